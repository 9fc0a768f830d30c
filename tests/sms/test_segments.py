"""SMS segment counts: GSM-7 160 / 153 septets, extension
characters 2 septets and never split; UCS-2 70 / 67 UTF-16 units, surrogate pairs never split.
The agent desktop mirrors these rules in JavaScript; the table below is checked against both
(the JS through node, when node is installed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources

import pytest

from channels.segments import GSM7_BASIC, GSM7_EXTENSION, is_gsm7, segments

EMOJI = "\N{GRINNING FACE}"  # outside the BMP: a surrogate pair in UTF-16
CASES = [
    # (text, encoding, segments, units)
    ("", "gsm7", 0, 0),
    ("Hello", "gsm7", 1, 5),
    ("a" * 160, "gsm7", 1, 160),
    ("a" * 161, "gsm7", 2, 161),
    ("a" * 306, "gsm7", 2, 306),
    ("a" * 307, "gsm7", 3, 307),
    ("€" * 80, "gsm7", 1, 160),  # extension characters cost 2 septets
    ("€" * 81, "gsm7", 2, 162),
    ("a" + "[" * 80, "gsm7", 2, 161),
    # 152 + an extension char that would straddle the 153-septet boundary: it moves whole.
    ("a" * 152 + "€" + "a" * 152, "gsm7", 3, 306),
    ("a" * 151 + "€" + "a" * 153, "gsm7", 2, 306),
    ("Price €5 [x] {ok} ~ ^ | \\", "gsm7", 1, 34),  # 25 characters, 9 of them extension
    ("é" * 160, "gsm7", 1, 160),  # é, à, ñ, ü are in the default alphabet
    ("ç" * 70, "ucs2", 1, 70),  # ç is not (only Ç is)
    ("ç" * 71, "ucs2", 2, 71),
    ("ç" * 134, "ucs2", 2, 134),
    ("ç" * 135, "ucs2", 3, 135),
    ("Grüße", "gsm7", 1, 5),
    ("Grüße, ça va", "ucs2", 1, 12),  # one ç makes the whole text UCS-2
    (EMOJI * 35, "ucs2", 1, 70),
    (EMOJI * 36, "ucs2", 2, 72),
    ("a" * 69 + EMOJI, "ucs2", 2, 71),
    # 66 units + a pair that would straddle the 67-unit boundary: it moves whole.
    ("a" * 66 + EMOJI + "a" * 66, "ucs2", 3, 134),
    ("a" * 65 + EMOJI + "a" * 67, "ucs2", 2, 134),
    ("你好" * 35, "ucs2", 1, 70),
]


@pytest.mark.parametrize(("text", "encoding", "count", "units"), CASES)
def test_segment_counts(text: str, encoding: str, count: int, units: int) -> None:
    info = segments(text)
    assert (info.encoding, info.segments, info.units) == (encoding, count, units)


def test_gsm7_alphabet() -> None:
    assert len(GSM7_BASIC) == 127  # 128 code points, ESC excluded
    assert len(GSM7_EXTENSION) == 10
    assert is_gsm7("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡§¿äöñüà")
    assert not is_gsm7("`")  # the backtick is not in GSM 03.38
    assert not is_gsm7("ç")


def test_vonage_uses_the_one_gsm7_table() -> None:
    from channels import vonage
    from channels.vonage import _wire

    assert vonage.is_gsm7 is is_gsm7
    assert not hasattr(_wire, "GSM7_BASIC")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_agent_desktop_counts_the_same() -> None:
    """Extract the desktop's ``smsSegments`` and run it on the same table."""
    source = (resources.files("router") / "static" / "agent.js").read_text("utf-8")
    start = source.index("// -- sms segments (mirrors channels/segments.py)")
    end = source.index("// -- end sms segments")
    script = source[start:end] + (
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
        "process.stdout.write(JSON.stringify(cases.map((t) => smsSegments(t))));\n"
    )
    texts = [case[0] for case in CASES]
    node = shutil.which("node")
    assert node is not None
    out = subprocess.run(
        [node, "-e", script], input=json.dumps(texts), capture_output=True, text=True,
        check=True, timeout=30,
    )  # fmt: skip
    got = json.loads(out.stdout)
    assert [(g["encoding"], g["count"], g["units"]) for g in got] == [c[1:] for c in CASES]
