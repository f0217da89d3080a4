"""The report's one stylesheet, inlined in the page: system fonts only (no download), readable
on a phone, and printed with the SYNTHETIC banner repeated on every page."""

CSS = """
:root { --fg:#1b1b1b; --muted:#5a5a5a; --line:#d0d0d0; --bad:#b3261e; --ok:#1e6b35;
        --warn:#8a5a00; --bar:#b3261e; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
       sans-serif; color:var(--fg); background:#fff; }
main { max-width: 1040px; margin: 0 auto; padding: 0 16px 40px; }
.synthetic { background:#ffe14d; color:#000; font-weight:700; text-align:center;
             padding:4px 8px; letter-spacing:.04em; position: sticky; top:0; z-index:2; }
h1 { font-size: 1.45em; margin: 12px 0 2px; }
h2 { font-size: 1.15em; margin: 26px 0 8px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1em; margin: 16px 0 4px; }
.meta { color: var(--muted); font-size: .9em; margin: 0 0 8px; }
.verdict { display:inline-block; font-weight:700; font-size:1.1em; padding:2px 10px;
           border-radius:4px; color:#fff; background:var(--bad); margin: 6px 0; }
.verdict.clear { background: var(--ok); } .verdict.unknown { background: var(--muted); }
.answer p { margin: 4px 0; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: .92em; }
th, td { border: 1px solid var(--line); padding: 4px 6px; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
.status { font-weight: 700; white-space: nowrap; }
.s-not-followed { color: var(--bad); } .s-followed-late { color: var(--warn); }
.s-followed { color: var(--ok); } .s-no-data { color: var(--muted); }
.ids { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .82em;
       overflow-wrap: anywhere; word-break: break-all; }
.ids a { color: #1a4f9c; margin-right: .6em; }
a { color: #1a4f9c; }
table.appendix { table-layout: fixed; }
.appendix .c-id { width: 24%; } .appendix .c-time { width: 10%; } .appendix .c-net { width: 14%; }
.appendix .c-input { width: 13%; } .appendix .c-verdict { width: 8%; }
.appendix .c-tech { width: 9%; } .appendix .c-rules { width: 22%; }
.appendix td { overflow-wrap: anywhere; }
svg.chart { width: 100%; height: auto; display: block; }
svg .plot { fill: #fafafa; stroke: var(--line); }
svg .grid { stroke: #e6e6e6; } svg .tick { stroke: #888; }
svg .ylab { font-size: 11px; text-anchor: end; fill: var(--muted); }
svg .xlab { font-size: 11px; text-anchor: middle; fill: var(--muted); }
svg .share { fill: var(--bar); } svg .measured { fill: #dbe7f3; }
svg .nodata { fill: #9e9e9e; opacity: .35; }
svg .marker line { stroke: #1a4f9c; stroke-dasharray: 3 3; }
svg .marker text { font-size: 11px; fill: #1a4f9c; font-weight: 700; }
svg .deadline line { stroke: #7b1fa2; stroke-dasharray: 6 3; stroke-width: 1.5; }
svg .deadline text { fill: #7b1fa2; }
svg .watermark { font-size: 44px; font-weight: 700; fill: #c9a800; opacity: .28; }
svg .bar { fill: var(--bar); } svg .tlab { font-size: 13px; text-anchor: end; }
svg .tval { font-size: 12px; fill: var(--muted); }
.legend { font-size: .85em; color: var(--muted); }
.legend span { margin-right: 1.2em; }
.sw { display:inline-block; width:12px; height:10px; vertical-align: middle; margin-right:4px; }
.sw.blocked { background: var(--bar); } .sw.measured { background: #dbe7f3; }
.sw.nodata { background: #cfcfcf; }
@media (max-width: 640px) { body { font-size: 14px; } th, td { padding: 3px 4px; }
  table { display: block; overflow-x: auto; } }
@page { size: A4; margin: 16mm 12mm 14mm; }
@media print {
  body { font-size: 10.5pt; } main { max-width: none; padding: 0; }
  h2 { break-after: avoid; } svg.chart, tr { break-inside: avoid; }
}
"""
