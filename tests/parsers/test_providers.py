"""Provider URL rewriting (pure): each shared URL → the request that yields its file."""

import base64

import pytest

from parsers.providers import Page, Refusal, drive_file_id, onedrive_share_token, provider_for
from tests.links.providers import DRIVE_CONFIRM


@pytest.mark.parametrize(("url", "file_id"), [
    ("https://drive.google.com/file/d/1AbC-dEf_GhIjKlMn/view?usp=sharing", "1AbC-dEf_GhIjKlMn"),
    ("https://drive.google.com/file/u/1/d/1AbC-dEf_GhIjKlMn/view", "1AbC-dEf_GhIjKlMn"),
    ("https://drive.google.com/open?id=1AbC-dEf_GhIjKlMn", "1AbC-dEf_GhIjKlMn"),
    ("https://drive.google.com/uc?id=1AbC-dEf_GhIjKlMn&export=download", "1AbC-dEf_GhIjKlMn"),
])
def test_drive_file_ids(url, file_id):
    assert drive_file_id(url) == file_id
    assert provider_for(url).start(url).url == (
        f"https://drive.google.com/uc?export=download&id={file_id}")


def test_drive_confirmation_form_gives_the_download_anyway_request():
    page = Page("https://drive.usercontent.google.com/download?id=X", 200, "text/html",
                DRIVE_CONFIRM.format(id="BIG123").encode())
    nxt = provider_for(page.url).follow(page)
    assert nxt.url.startswith("https://drive.usercontent.google.com/download?")
    assert "id=BIG123" in nxt.url and "confirm=t" in nxt.url and "uuid=u-42" in nxt.url


def test_dropbox_gets_dl_1_in_place_of_dl_0():
    url = "https://www.dropbox.com/scl/fi/abc/clip.mp4?rlkey=k&dl=0"
    assert provider_for(url).start(url).url == (
        "https://www.dropbox.com/scl/fi/abc/clip.mp4?rlkey=k&dl=1")


def test_onedrive_goes_through_the_shares_api():
    url = "https://1drv.ms/v/s!AbCd"
    token = onedrive_share_token(url)
    assert token.startswith("u!") and "=" not in token
    assert base64.urlsafe_b64decode(token[2:] + "==").decode() == url
    assert provider_for(url).start(url).url.endswith(f"/shares/{token}/root/content")


def test_wetransfer_download_page_becomes_the_api_call():
    url = "https://wetransfer.com/downloads/abc123/def456"
    request = provider_for(url).start(url)
    assert (request.method, request.url) == (
        "POST", "https://wetransfer.com/api/v4/transfers/abc123/download")
    assert request.json == {"security_hash": "def456", "intent": "entire_transfer"}
    expired = Page(request.url, 404, "application/json", b'{"message":"Transfer expired"}')
    with pytest.raises(Refusal) as caught:
        provider_for(url).follow(expired)
    assert caught.value.reason == "expired"


@pytest.mark.parametrize("url", ["https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                                 "https://youtu.be/dQw4w9WgXcQ", "https://vimeo.com/123456"])
def test_hosted_videos_stay_links(url):
    assert provider_for(url).fetched is False


def test_other_hosts_are_direct():
    assert provider_for("https://files.example.org/a.mp4").name == "direct"
    assert provider_for("https://evil-dropbox.com.example/s/x").name == "direct"
