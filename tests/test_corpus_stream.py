"""The worker's streaming path (base64 file parts decoded to disk as the file is read) gives
exactly what parsing the whole message gives, for every message of the public corpus."""

import dataclasses
import random
from pathlib import Path

import pytest

from intake.pipeline.analyse import MatchOptions, analyse_email
from intake.pipeline.spool_parts import NotStreamable, split_parts
from tests.conftest import CORPUS, corpus_files
from tests.test_corpus import as_smtp_client_sends

FILES = corpus_files()
pytestmark = pytest.mark.skipif(not FILES, reason=f"corpus not found at {CORPUS}")
WHOLE, STREAMED = 1 << 62, -1  # stream_above: never / always


def _analysis(path: Path, spool: Path, stream_above: int) -> dict:
    random.seed(7)  # mail-parser names a nameless .rtf/.txt part at random
    analysis = analyse_email(str(path), "smtp", "corpus@example.org", str(spool), [],
                             MatchOptions(index_path=None), stream_above)
    files = []
    for spooled in analysis.files:
        data = Path(spooled.path).read_bytes()
        Path(spooled.path).unlink()
        files.append({**dataclasses.asdict(spooled), "path": None, "bytes": data})
    return {**dataclasses.asdict(analysis), "files": files}


def _streams(path: Path, spool: Path) -> bool:
    try:
        _skeleton, parts = split_parts(path, spool)
    except NotStreamable:
        return False
    for part in parts.values():
        Path(part.path).unlink()
    return bool(parts)


@pytest.mark.parametrize("crlf", [False, True], ids=["as-stored", "as-sent-over-smtp"])
def test_streaming_gives_the_same_media_texts_and_verdicts(tmp_path, crlf):
    spool = tmp_path / "spool"
    streamed = 0
    for source in FILES:
        path = tmp_path / "raw.eml"
        raw = source.read_bytes()
        path.write_bytes(as_smtp_client_sends(raw) if crlf else raw)
        whole = _analysis(path, spool, WHOLE)
        assert _analysis(path, spool, STREAMED) == whole, source.relative_to(CORPUS)
        streamed += _streams(path, spool)
    assert streamed >= 10, f"only {streamed} messages took the streaming path"
    assert list(spool.iterdir()) == []  # no spool file left behind


def _forwarded(video: bytes) -> bytes:
    import email
    import email.policy
    from email.message import EmailMessage
    from email.policy import SMTP as SMTP_POLICY

    from tests.helpers import make_email

    inner = make_email(subject="the clip", attachments=[("inner.mp4", video, "video/mp4")])
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "a@example.org", "v@intake.example", "Fwd"
    outer.set_content("forwarded, with a video of ours too")
    outer.add_attachment(video[::-1], maintype="video", subtype="mp4", filename="outer.mp4")
    outer.add_attachment(email.message_from_bytes(inner, policy=email.policy.default))
    return outer.as_bytes(policy=SMTP_POLICY)


def test_a_forwarded_message_and_big_videos_stream_with_the_same_result(tmp_path):
    import hashlib
    import os

    video = b"\x00\x00\x00\x18ftypmp42" + os.urandom(3_000_000)
    path = tmp_path / "fwd.eml"
    path.write_bytes(_forwarded(video))
    spool = tmp_path / "spool"
    _skeleton, parts = split_parts(path, spool)
    # the outer video leaves the skeleton; the forwarded message is an attachment that
    # mail-parser keeps whole (as a .txt file, its base64 and all), so it stays in
    assert len(parts) == 1 and len(_skeleton) < 4_200_000
    for part in parts.values():
        Path(part.path).unlink()
    streamed = _analysis(path, spool, STREAMED)
    assert streamed == _analysis(path, spool, WHOLE)
    assert {f["sha256"] for f in streamed["files"]} >= {
        hashlib.sha256(video).hexdigest(), hashlib.sha256(video[::-1]).hexdigest()}


async def test_a_big_video_over_smtp_is_stored_with_its_hash(ctx):
    import hashlib
    import os

    from sqlalchemy import select

    from store.models import Media
    from tests.helpers import drain, make_email, send_async, smtp_listener

    video = b"\x00\x00\x00\x18ftypmp42" + os.urandom(5_000_000)
    async with smtp_listener(ctx) as port:
        await send_async(port, make_email(attachments=[("v.mp4", video, "video/mp4")]))
    await drain(ctx)
    async with ctx.db.reader()() as session:
        [media] = list(await session.scalars(select(Media)))
    assert media.sha256 == hashlib.sha256(video).hexdigest() and media.size == len(video)
    assert await ctx.blobs.get_bytes(media.sha256) == video
    assert list(ctx.settings.spool_dir.glob("att-*")) == []


@pytest.mark.parametrize("ending", [b"\r\n", b"\n"], ids=["crlf", "lf"])
def test_a_quoted_printable_file_streams_with_the_same_result(tmp_path, ending):
    import quopri

    # every byte value but CR (a QP line break is the message's own line end), "=", spaces
    data = b"".join(bytes([n % 256]).replace(b"\r", b"") * (n % 7) + b"line = %d \n" % n
                    for n in range(20_000))
    body = quopri.encodestring(data).replace(b"\n", ending)
    lines = [b"From: a@example.org", b"To: v@intake.example", b"Subject: qp file",
             b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="q"', b"",
             b"--q", b"Content-Type: text/plain", b"", b"see the file", b"--q",
             b"Content-Type: application/octet-stream",
             b"Content-Transfer-Encoding: quoted-printable",
             b'Content-Disposition: attachment; filename="data.bin"', b""]
    path = tmp_path / "qp.eml"
    path.write_bytes(ending.join(lines) + ending + body + ending + b"--q--" + ending)
    spool = tmp_path / "spool"
    _skeleton, parts = split_parts(path, spool)
    assert len(parts) == 1 and len(_skeleton) < 2_000
    for part in parts.values():
        Path(part.path).unlink()
    streamed = _analysis(path, spool, STREAMED)
    assert streamed == _analysis(path, spool, WHOLE)
    assert streamed["files"][0]["bytes"].replace(b"\r\n", b"\n") == data
