"""One thing a verification found that does not hold."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    """Something that does not hold: in which file, about which claim (when one), and how."""

    file: str
    detail: str
    claim: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: {self.claim}" if self.claim else self.file
        return f"{where}: {self.detail}"
