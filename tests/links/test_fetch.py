"""Each provider's flow, fetched through an egress proxy with a test CA, by the real fetcher."""

import asyncio
import errno
import hashlib
import json
import resource
import signal
from urllib.parse import urlsplit

import pytest

from intake.links.client import Limits, open_session
from intake.links.errors import FetchFailed
from intake.links.fetch import fetch
from tests.helpers import wait_for
from tests.links.providers import HASH, TRANSFER, mp4

LIMITS = Limits(max_bytes=10_000_000, connect_timeout=10, read_timeout=10, allow_private=False)


async def _fetch(tmp_path, url, limits=LIMITS):
    async with open_session(limits) as session:
        return await fetch(session, url, tmp_path / "spool", limits)


async def _refused(tmp_path, url, limits=LIMITS) -> FetchFailed:
    with pytest.raises(FetchFailed) as caught:
        await _fetch(tmp_path, url, limits)
    assert not list((tmp_path / "spool").glob("*")), "a failed fetch leaves no spool file"
    return caught.value


PROVIDER_LINKS = [
    ("https://files.example.org/clip.mp4", "direct"),
    ("https://drive.google.com/file/d/SMALLFILE123456/view?usp=sharing", "google_drive"),
    ("https://drive.google.com/file/d/BIGFILE12345678/view?usp=drive_link", "google_drive"),
    ("https://www.dropbox.com/scl/fi/abc123/clip.mp4?rlkey=xyz&dl=0", "dropbox"),
    ("https://1drv.ms/v/s!AbCdEfGh12345", "onedrive"),
    ("https://contoso.sharepoint.com/:v:/g/personal/ana/EbCdEf?e=AbC", "sharepoint"),
    ("https://we.tl/t-AbCdEf1234", "wetransfer"),
    (f"https://wetransfer.com/downloads/{TRANSFER}/{HASH}", "wetransfer"),
    ("https://app.box.com/s/abcdef123456", "box"),
]


@pytest.mark.parametrize(("url", "provider"), PROVIDER_LINKS)
async def test_each_provider_flow_yields_the_video(providers, tmp_path, url, provider):
    fetched = await _fetch(tmp_path, url)
    video = providers.fake.video
    assert fetched.provider == provider
    assert (fetched.size, fetched.sha256) == (len(video), hashlib.sha256(video).hexdigest())
    assert fetched.path.read_bytes() == video
    assert (fetched.kind, fetched.mime) == ("video", "video/mp4")
    assert fetched.filename == "clip.mp4"
    assert providers.proxy.tunnels, "the fetch went through the proxy"


async def test_drive_large_file_goes_through_the_virus_scan_page(providers, tmp_path):
    await _fetch(tmp_path, "https://drive.google.com/file/d/BIGFILE12345678/view")
    hits = providers.fake.hits
    assert hits[("drive.usercontent.google.com", "/download")] == 2  # page, then the file
    confirmed = [h for host, path, h in providers.fake.headers if path == "/download"]
    assert len(confirmed) == 2


async def test_a_connection_cut_halfway_is_resumed_with_range(providers, tmp_path):
    providers.fake.cut_once.add("/resume.mp4")
    fetched = await _fetch(tmp_path, "https://files.example.org/resume.mp4")
    assert fetched.path.read_bytes() == providers.fake.video
    ranges = [h.get("Range") for _host, path, h in providers.fake.headers
              if path == "/resume.mp4"]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert int(ranges[1][6:-1]) > 0


async def _cut_by_a_shutdown(providers, tmp_path, url):
    """A fetch with checkpoints every MiB, cancelled (as at shutdown) once half the file is in."""
    providers.fake.stall_once.add(urlsplit(url).path)
    async with open_session(LIMITS) as session:
        task = asyncio.create_task(fetch(session, url, tmp_path / "spool", LIMITS, key="7",
                                         every=1 << 20))
        state = tmp_path / "spool" / "resume-7.json"
        await wait_for(lambda: _async(providers.fake.stalled and state.exists()))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    kept = sorted(p.name for p in (tmp_path / "spool").iterdir())
    assert kept == ["resume-7.json", "resume-7.part"]


async def _async(value):
    return value


async def _fetch_again(tmp_path, url):
    async with open_session(LIMITS) as session:
        return await fetch(session, url, tmp_path / "spool", LIMITS, key="7", every=1 << 20)


async def test_a_fetch_cut_by_a_restart_resumes_from_its_checkpoint(providers, tmp_path):
    url = "https://files.example.org/long.mp4"
    await _cut_by_a_shutdown(providers, tmp_path, url)
    fetched = await _fetch_again(tmp_path, url)
    video = providers.fake.video
    assert fetched.sha256 == hashlib.sha256(video).hexdigest() and fetched.size == len(video)
    assert fetched.path.read_bytes() == video
    again = [h for _host, path, h in providers.fake.headers if path == "/long.mp4"][-1]
    offset = int(again["Range"].removeprefix("bytes=").removesuffix("-"))
    assert 1 << 20 <= offset <= len(video) // 2  # the checkpoint, not the start
    assert again.get("If-Range") == '"v1"'
    assert [p.name for p in (tmp_path / "spool").iterdir()] == [fetched.path.name]


async def test_a_file_replaced_since_the_checkpoint_is_fetched_whole(providers, tmp_path):
    url = "https://files.example.org/long.mp4"
    await _cut_by_a_shutdown(providers, tmp_path, url)
    providers.fake.video, providers.fake.etag = mp4(2_500_000, seed=b"new cut"), '"v2"'
    fetched = await _fetch_again(tmp_path, url)
    assert fetched.sha256 == hashlib.sha256(providers.fake.video).hexdigest()
    assert fetched.size == 2_500_000  # not the old file's first MiB and the new one's rest


async def test_a_permanent_failure_drops_the_checkpoint(providers, tmp_path):
    url = "https://files.example.org/long.mp4"
    await _cut_by_a_shutdown(providers, tmp_path, url)
    small = Limits(max_bytes=2_000_000, connect_timeout=10, read_timeout=10, allow_private=False)
    with pytest.raises(FetchFailed) as caught:
        async with open_session(small) as session:
            await fetch(session, url, tmp_path / "spool", small, key="7", every=1 << 20)
    assert caught.value.reason == "too_large"
    assert list((tmp_path / "spool").iterdir()) == []


async def test_a_plain_http_link_goes_through_http_proxy(providers, tmp_path, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", providers.proxy_url)
    fetched = await _fetch(tmp_path, "http://files.example.org/clip.mp4")
    assert fetched.sha256 == hashlib.sha256(providers.fake.video).hexdigest()
    # files.example.org resolves nowhere here: only the proxy could have reached it.
    assert providers.proxy.forwarded == ["http://files.example.org/clip.mp4"]


async def test_a_cut_without_range_support_starts_over(providers, tmp_path):
    providers.fake.cut_once.add("/norange.mp4")
    fetched = await _fetch(tmp_path, "https://files.example.org/norange.mp4")
    assert fetched.sha256 == hashlib.sha256(providers.fake.video).hexdigest()


@pytest.mark.parametrize(("url", "reason"), [
    ("https://files.example.org/page.html", "not_media"),
    ("https://files.example.org/octet-page", "not_media"),
    ("https://files.example.org/missing.mp4", "not_found"),
    ("https://files.example.org/private.mp4", "needs_signin"),
    ("https://drive.google.com/file/d/PRIVATEFILE1234/view", "needs_signin"),
    ("https://drive.google.com/file/d/MISSINGFILE1234/view", "not_found"),
    ("https://wetransfer.com/downloads/dead00000000/0f1e2d3c4b5a", "expired"),
    ("https://files.example.org/to-loopback", "refused"),
    ("https://files.example.org/loop0", "refused"),
    ("ftp://files.example.org/clip.mp4", "refused"),
    ("https://127.0.0.1/clip.mp4", "refused"),
    ("https://[::ffff:10.0.0.1]/clip.mp4", "refused"),
    ("https://localhost/clip.mp4", "refused"),
])
async def test_failures_carry_a_reason(providers, tmp_path, url, reason):
    failure = await _refused(tmp_path, url)
    assert failure.reason == reason, failure


async def test_a_redirect_to_loopback_never_reaches_it(providers, tmp_path):
    await _refused(tmp_path, "https://files.example.org/to-loopback")
    assert not [p for _h, p, _x in providers.fake.headers if p == "/secret"]


async def test_too_large_announced_and_streamed(providers, tmp_path):
    small = Limits(max_bytes=1_000_000, connect_timeout=10, read_timeout=10, allow_private=False)
    assert (await _refused(tmp_path, "https://files.example.org/clip.mp4", small)
            ).reason == "too_large"
    assert (await _refused(tmp_path, "https://files.example.org/chunked.mp4", small)
            ).reason == "too_large"


async def test_no_cookie_is_sent_back(providers, tmp_path):
    await _fetch(tmp_path, "https://files.example.org/cookie")
    after = [h for _host, path, h in providers.fake.headers if path == "/clip.mp4"]
    assert after and all("Cookie" not in h for h in after)
    assert all(h.get("Accept-Encoding") == "identity" for _x, _y, h in providers.fake.headers)


async def test_a_spool_that_refuses_bytes_fails_the_fetch_and_keeps_what_it_took(
        providers, tmp_path):
    """The disk refuses a write halfway (here the file size limit: EFBIG, as ENOSPC would
    be): the fetch fails with the OS's error, its checkpoint names only bytes that are in the
    file, and the next attempt carries on from there to the right file."""
    url = "https://files.example.org/long.mp4"
    cap = len(providers.fake.video) // 2
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (cap, hard))
    try:
        with pytest.raises(OSError) as caught:
            await _fetch_again(tmp_path, url)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert caught.value.errno == errno.EFBIG
    state = json.loads((tmp_path / "spool" / "resume-7.json").read_text())
    part = (tmp_path / "spool" / "resume-7.part").read_bytes()
    assert 1 << 20 <= state["size"] <= len(part) <= cap
    assert part[:state["size"]] == providers.fake.video[:state["size"]]
    fetched = await _fetch_again(tmp_path, url)
    assert fetched.sha256 == hashlib.sha256(providers.fake.video).hexdigest()
    again = [h for _host, path, h in providers.fake.headers if path == "/long.mp4"][-1]
    assert again["Range"] == f"bytes={state['size']}-"
