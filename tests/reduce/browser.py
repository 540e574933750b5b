"""Headless Chromium for the HTML report tests: DOM after scripts ran, console lines, screenshot."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
from numba import njit

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run(page: Path, tmp: Path, *extra: str) -> tuple[str, list[str]]:
    """(stdout, console lines) of one headless Chromium run on `page`."""
    exe = chromium()
    assert exe is not None
    proc = subprocess.run(
        [exe, *FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}", *extra, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


@njit(cache=True)
def _unfilter_nb(raw: np.ndarray, h: int, stride: int, bpp: int) -> np.ndarray:
    out = np.zeros((h, stride), np.uint8)
    for y in range(h):
        f = raw[y, 0]
        for x in range(stride):
            a = np.int32(out[y, x - bpp]) if x >= bpp else 0
            b = np.int32(out[y - 1, x]) if y > 0 else 0
            c = np.int32(out[y - 1, x - bpp]) if (x >= bpp and y > 0) else 0
            if f == 0:
                p = 0
            elif f == 1:
                p = a
            elif f == 2:
                p = b
            elif f == 3:
                p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
            out[y, x] = (np.int32(raw[y, 1 + x]) + p) & 255
    return out


def read_png(path: Path) -> np.ndarray:
    """Decode an 8-bit PNG (what Chromium writes) to an (h, w, channels) array."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat = 8, b""
    w = h = ctype = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8, "only 8-bit PNGs"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    ch = {2: 3, 6: 4, 0: 1, 4: 2}[ctype]
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * ch)
    return _unfilter_nb(raw, h, w * ch, ch).reshape(h, w, ch)


_MEASURE = """<script>window.addEventListener('load',function(){setTimeout(function(){
function box(x){return x.getBoundingClientRect();}
function each(root,sel,f){return Array.prototype.map.call(root.querySelectorAll(sel),f);}
var d=document.documentElement,out={inner:window.innerWidth,scroll:d.scrollWidth,tables:[]};
document.querySelectorAll('.tbl').forEach(function(t){
  var tb=t.querySelector('table');
  out.tables.push({lead:t.closest('#leaderboard')!==null,left:box(t).left,right:box(t).right,
    table_right:box(tb).right,rows:each(t,'tbody tr',function(x){return box(x).height;}),
    heads:each(tb,'thead th',function(h){return [h.textContent,Math.round(box(h).width)];})});});
var p=document.createElement('pre');p.id='layout';p.textContent=JSON.stringify(out);
document.body.appendChild(p);},0);});</script>"""


def layout(page: Path, tmp: Path, width: int, height: int = 900) -> dict:
    """Widths at a `width`-px viewport, after load: the window's and the document's; per `.tbl`
    box its left/right edges (`lead`: inside the leaderboard), its table's right edge, header
    widths and body rows' heights (a script added to a copy of the page reports them)."""
    import html
    import json
    import re

    copy = tmp / f"layout-{width}.html"
    copy.write_text(page.read_text().replace("</body>", _MEASURE + "</body>"))
    dom, _ = run(copy, tmp, "--dump-dom", f"--window-size={width},{height}")
    m = re.search(r'<pre id="layout">(.*?)</pre>', dom, re.S)
    assert m, "the layout script did not run"
    return json.loads(html.unescape(m.group(1)))
