"""A fake of each file-sharing provider's real flow on 127.0.0.1, reached through an HTTPS
CONNECT proxy that presents certificates of a test CA for the providers' real host names."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from aiohttp import web

HOSTS = ["drive.google.com", "drive.usercontent.google.com", "accounts.google.com",
         "www.dropbox.com", "uc123.dl.dropboxusercontent.com", "1drv.ms", "api.onedrive.com",
         "onedrive-content.example.net", "contoso.sharepoint.com", "we.tl", "wetransfer.com",
         "download.wetransfer.com", "app.box.com", "public.boxcloud.com", "files.example.org"]


def mp4(size: int, seed: bytes = b"clip") -> bytes:
    """Bytes that sniff as an MP4 video (an ftyp box), then `size` bytes in all."""
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    block = hashlib.sha256(seed).digest() * 2048
    body = (block * (size // len(block) + 1))[: size - len(head)]
    return head + body


@dataclass
class Fake:
    """What the fake providers serve and what they saw."""

    video: bytes
    hits: Counter = field(default_factory=Counter)
    headers: list = field(default_factory=list)  # (host, path, headers) of each request
    cut_once: set = field(default_factory=set)  # paths whose first answer is cut halfway
    slow: bool = False  # the big file trickles out
    stall_once: set = field(default_factory=set)  # paths whose first answer stops half-way
    stalled: int = 0  # answers now stopped half-way (the crash test kills the fetcher then)
    etag: str = '"v1"'  # the file's validator: change it with the video to "replace" the file
    plain_port: int = 0

    def seen(self, request: web.Request) -> None:
        self.hits[(request.host.split(":")[0], request.path)] += 1
        self.headers.append((request.host.split(":")[0], request.path, dict(request.headers)))


async def serve_file(fake: Fake, request: web.Request, data: bytes, ranges: bool = True,
                     ) -> web.StreamResponse:
    """A file, honouring Range and If-Range (RFC 9110: a Range whose If-Range names another
    version gets the whole file); a path in cut_once loses its connection half-way once."""
    first = 0
    header = request.headers.get("Range", "")
    same = request.headers.get("If-Range", fake.etag) == fake.etag
    if ranges and header.startswith("bytes=") and same:
        first = int(header[6:].split("-")[0])
    response = web.StreamResponse(status=206 if first else 200)
    response.content_type = "video/mp4"
    response.headers["Content-Disposition"] = 'attachment; filename="clip.mp4"'
    response.headers["ETag"] = fake.etag
    if ranges:
        response.headers["Accept-Ranges"] = "bytes"
    if first:
        response.headers["Content-Range"] = f"bytes {first}-{len(data) - 1}/{len(data)}"
    response.content_length = len(data) - first
    await response.prepare(request)
    body = data[first:]
    if request.path in fake.cut_once:
        fake.cut_once.discard(request.path)
        await response.write(body[: len(body) // 2])
        request.transport.close()  # the connection drops half-way
        return response
    if request.path in fake.stall_once:
        fake.stall_once.discard(request.path)
        await response.write(body[: len(body) // 2])
        fake.stalled += 1
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.05)  # until the fetcher's connection goes away
        return response
    step = 1 << 16 if fake.slow else 1 << 20
    for start in range(0, len(body), step):
        await response.write(body[start:start + step])
        if fake.slow:
            await asyncio.sleep(0.02)
    await response.write_eof()
    return response


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


DRIVE_CONFIRM = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>
</head><body><p>Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="https://drive.usercontent.google.com/download" method="get">
<input type="submit" value="Download anyway"/>
<input type="hidden" name="id" value="{id}"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="u-42">
</form></body></html>"""


async def drive(fake: Fake, request: web.Request) -> web.StreamResponse:
    file_id = request.query.get("id", "")
    host = request.host.split(":")[0]
    if host == "drive.google.com":  # /uc?export=download → the content host
        if file_id == "PRIVATEFILE1234":
            return _redirect("https://accounts.google.com/ServiceLogin?continue=x")
        return _redirect(f"https://drive.usercontent.google.com/download?id={file_id}"
                         "&export=download")
    if file_id == "MISSINGFILE1234":
        return web.Response(status=404, text="<html>not found</html>", content_type="text/html")
    if file_id == "BIGFILE12345678" and request.query.get("confirm") != "t":
        return web.Response(text=DRIVE_CONFIRM.format(id=file_id), content_type="text/html")
    return await serve_file(fake, request, fake.video)


async def dropbox(fake: Fake, request: web.Request) -> web.StreamResponse:
    if request.host.startswith("www.dropbox.com"):
        if request.query.get("dl") != "1":
            return web.Response(text="<html>preview</html>", content_type="text/html")
        return _redirect(f"https://uc123.dl.dropboxusercontent.com/cd/0/get/x{request.path}")
    return await serve_file(fake, request, fake.video)


async def onedrive(fake: Fake, request: web.Request) -> web.StreamResponse:
    host = request.host.split(":")[0]
    if host == "api.onedrive.com":
        return _redirect("https://onedrive-content.example.net/y4m/clip.mp4")
    if host == "contoso.sharepoint.com":
        if request.query.get("download") != "1":
            return web.Response(text="<html>viewer</html>", content_type="text/html")
        return await serve_file(fake, request, fake.video)
    return await serve_file(fake, request, fake.video)


TRANSFER = "a1b2c3d4e5f60718293a4b5c6d7e8f9020210101"
HASH = "0f1e2d3c4b5a"


async def wetransfer(fake: Fake, request: web.Request) -> web.StreamResponse:
    host = request.host.split(":")[0]
    if host == "we.tl":
        return _redirect(f"https://wetransfer.com/downloads/{TRANSFER}/{HASH}")
    if host == "download.wetransfer.com":
        return await serve_file(fake, request, fake.video)
    if request.method == "GET":  # the transfer's page (a single-page app)
        return web.Response(text="<html><div id=app></div></html>", content_type="text/html")
    body = await request.json()
    transfer = request.path.split("/")[4]
    if transfer == "dead00000000" or body.get("security_hash") != HASH:
        return web.json_response({"message": "This transfer has expired"}, status=404)
    if body.get("intent") != "entire_transfer":
        return web.json_response({"message": "bad intent"}, status=400)
    return web.json_response({"direct_link": "https://download.wetransfer.com/eu2/x/clip.mp4"
                                             "?token=abc"})


async def box(fake: Fake, request: web.Request) -> web.StreamResponse:
    host = request.host.split(":")[0]
    if host == "public.boxcloud.com":
        return await serve_file(fake, request, fake.video)
    if request.path.startswith("/s/"):
        page = '<html><script>Box.postStreamData = {"typedID":"f_987654321"}</script></html>'
        return web.Response(text=page, content_type="text/html")
    if request.query.get("rm") == "box_download_shared_file":
        return _redirect("https://public.boxcloud.com/d/1/clip.mp4")
    return web.Response(status=404)


async def files(fake: Fake, request: web.Request) -> web.StreamResponse:
    """files.example.org: a direct host with each case the fetcher must handle."""
    path = request.path
    if path == "/page.html":
        return web.Response(text="<html><body>a web page</body></html>",
                            content_type="text/html")
    if path == "/octet-page":  # an HTML page that says it is a file
        return web.Response(body=b"<!DOCTYPE html><html><body>hi</body></html>" * 10,
                            content_type="application/octet-stream")
    if path == "/missing.mp4":
        return web.Response(status=404)
    if path == "/private.mp4":
        return web.Response(status=403)
    if path == "/to-loopback":
        return _redirect(f"http://127.0.0.1:{fake.plain_port}/secret")
    if path.startswith("/loop"):
        return _redirect(f"/loop{int(path[5:] or 0) + 1}")
    if path == "/cookie":
        response = _redirect("https://files.example.org/clip.mp4")
        response.set_cookie("session", "s3cret")
        return response
    if path == "/norange.mp4":
        return await serve_file(fake, request, fake.video, ranges=False)
    if path == "/chunked.mp4":  # no Content-Length: the cap is enforced as bytes arrive
        response = web.StreamResponse()
        response.content_type = "video/mp4"
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(fake.video)
        await response.write_eof()
        return response
    return await serve_file(fake, request, fake.video)


ROUTES = {"drive.google.com": drive, "drive.usercontent.google.com": drive,
          "www.dropbox.com": dropbox, "uc123.dl.dropboxusercontent.com": dropbox,
          "1drv.ms": onedrive, "api.onedrive.com": onedrive,
          "onedrive-content.example.net": onedrive, "contoso.sharepoint.com": onedrive,
          "we.tl": wetransfer, "wetransfer.com": wetransfer,
          "download.wetransfer.com": wetransfer, "app.box.com": box,
          "public.boxcloud.com": box, "files.example.org": files}


def provider_app(fake: Fake) -> web.Application:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        fake.seen(request)
        handler = ROUTES.get(request.host.split(":")[0])
        if handler is None:
            return web.Response(status=421, text=f"no fake for {request.host}")
        return await handler(fake, request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


class ConnectProxy:
    """An egress proxy: CONNECT host:443 → the fake providers' TLS port, and a plain-HTTP
    request in absolute form (GET http://host/path) → their plain port, whatever the host."""

    def __init__(self, target_port: int, plain_port: int = 0) -> None:
        self.target_port = target_port
        self.plain_port = plain_port
        self.tunnels: list[str] = []
        self.forwarded: list[str] = []  # the absolute URLs of plain-HTTP requests

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, rest = head.split(b"\r\n", 1)
            method, target, version = line.decode().split(" ", 2)
            if method != "CONNECT" and target.startswith("http://"):
                self.forwarded.append(target)
                path = "/" + target.removeprefix("http://").partition("/")[2]
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1",
                                                                     self.plain_port)
                up_writer.write(f"{method} {path} {version}\r\n".encode() + rest)
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
                return
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
                return
            self.tunnels.append(target)
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass  # a client that went away mid-tunnel: nothing to clean up but the socket
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(1 << 18):
            writer.write(chunk)
            await writer.drain()
    finally:
        writer.close()


@dataclass
class Providers:
    fake: Fake
    proxy: ConnectProxy
    proxy_url: str
    ca_file: Path
    plain_port: int  # a plain HTTP listener on 127.0.0.1, the "internal service"


async def start_providers(tmp: Path, video: bytes) -> tuple[Providers, list]:
    """The fake providers (TLS), a loopback "internal" HTTP listener and the proxy."""
    ca = trustme.CA()
    cert = ca.issue_cert(*HOSTS)
    ca_file = tmp / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ssl)
    fake = Fake(video)
    app = provider_app(fake)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tls = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl)
    await tls.start()
    tls_port = tls._server.sockets[0].getsockname()[1]
    plain = web.TCPSite(runner, "127.0.0.1", 0)
    await plain.start()
    fake.plain_port = plain._server.sockets[0].getsockname()[1]
    proxy = ConnectProxy(tls_port, fake.plain_port)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy_port = server.sockets[0].getsockname()[1]
    providers = Providers(fake, proxy, f"http://127.0.0.1:{proxy_port}", ca_file,
                          fake.plain_port)
    return providers, [runner, server]


def proxy_env(providers: Providers) -> dict[str, str]:
    """The environment of a deployment behind an egress proxy with its own CA."""
    return {"HTTPS_PROXY": providers.proxy_url, "SSL_CERT_FILE": str(providers.ca_file),
            "NO_PROXY": ""}


