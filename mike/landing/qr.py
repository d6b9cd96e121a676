"""QR codes of personal URLs, as SVG (segno): what a postcard prints beside the code."""

import io

import segno


def qr_svg(url: str) -> bytes:
    """An SVG QR code of `url`, error correction M (a printed card survives a scuff), a quiet
    zone of four modules, dark modules as one path."""
    qr = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=4, border=4, xmldecl=False, title="QR code")
    return out.getvalue()
