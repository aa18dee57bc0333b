"""Video and file-sharing links in text."""

from __future__ import annotations

import pytest

from parsers.links import embed_url, find_video_links


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://m.youtube.com/watch?v=dQw4w9WgXcQ&t=42s",
        "https://youtu.be/dQw4w9WgXcQ",
        "https://youtube.com/shorts/abcDEF12345",
        "https://www.youtube.com/embed/dQw4w9WgXcQ",
        "https://vimeo.com/123456789",
        "https://player.vimeo.com/video/123456789",
        "https://vimeo.com/channels/staffpicks/987654321",
        "https://drive.google.com/file/d/1AbCdEfGh/view?usp=sharing",
        "https://drive.google.com/open?id=1AbCdEfGh",
        "https://drive.google.com/drive/folders/1AbCdEfGh",
        "https://docs.google.com/file/d/0B1234abcd/edit",
        "https://www.dropbox.com/s/abc123/video.mp4?dl=0",
        "https://www.dropbox.com/scl/fi/abc123/video.mp4?rlkey=x&dl=0",
        "https://1drv.ms/v/s!AbCdEf",
        "https://onedrive.live.com/?cid=ABC&id=XYZ",
        "https://contoso-my.sharepoint.com/:v:/g/personal/a_b/EabcD?e=x",
        "https://wetransfer.com/downloads/abc123/def456",
        "https://we.tl/t-AbCdEf12",
        "https://app.box.com/s/abc123def",
    ],
)
def test_each_service_is_recognised(url):
    assert find_video_links(f"Here: {url} thanks") == [url]


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/",
        "https://www.youtube.com/@somechannel",
        "https://vimeo.com/about",
        "https://example.com/video.html",  # a direct .mp4 is a link to fetch now (#13)
        "https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
        "https://www.dropbox.com/home",
    ],
)
def test_other_links_are_ignored(url):
    assert find_video_links(f"see {url}") == []


def test_trailing_punctuation_is_trimmed():
    text = (
        "Video: https://youtu.be/dQw4w9WgXcQ. Also (https://vimeo.com/123456789), "
        "and «https://we.tl/t-AbCdEf12»! <https://youtu.be/AAAAAAAAAAA>"
    )
    assert find_video_links(text) == [
        "https://youtu.be/dQw4w9WgXcQ",
        "https://vimeo.com/123456789",
        "https://we.tl/t-AbCdEf12",
        "https://youtu.be/AAAAAAAAAAA",
    ]


def test_deduplicated_in_order_and_scheme_added_to_bare_links():
    text = (
        "youtu.be/dQw4w9WgXcQ then https://vimeo.com/123456789 then "
        "https://youtu.be/dQw4w9WgXcQ and www.youtube.com/watch?v=abcdefghijk"
    )
    assert find_video_links(text) == [
        "https://youtu.be/dQw4w9WgXcQ",
        "https://vimeo.com/123456789",
        "https://www.youtube.com/watch?v=abcdefghijk",
    ]


def test_email_addresses_are_not_links():
    assert find_video_links("write to someone@youtube.com/watch?v=x") == []


def test_no_links():
    assert find_video_links("") == []
    assert find_video_links("just words, no links") == []


def test_a_direct_link_to_a_video_file_on_any_host_is_found():
    text = "Video: https://files.example.org/2026/our%20clip.MP4 and https://example.org/about"
    assert find_video_links(text) == ["https://files.example.org/2026/our%20clip.MP4"]


@pytest.mark.parametrize(("url", "embed"), [
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s",
     "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"),
    ("https://youtu.be/dQw4w9WgXcQ?si=abc", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"),
    ("https://m.youtube.com/shorts/dQw4w9WgXcQ",
     "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"),
    ("https://www.youtube.com/live/dQw4w9WgXcQ?feature=share",
     "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"),
    ("https://vimeo.com/76979871", "https://player.vimeo.com/video/76979871"),
    ("https://vimeo.com/76979871/8d2f3a9b1c", "https://player.vimeo.com/video/76979871?h=8d2f3a9b1c"),
    ("https://vimeo.com/channels/staffpicks/76979871", "https://player.vimeo.com/video/76979871"),
    ("https://player.vimeo.com/video/76979871?h=8d2f3a9b1c",
     "https://player.vimeo.com/video/76979871?h=8d2f3a9b1c"),
    # Not a video id, or not these providers: no player.
    ("https://www.youtube.com/watch?v=short", None),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ%22onload%3D", None),
    # The player's address is built from the id alone: what follows it never reaches it.
    ("https://youtu.be/dQw4w9WgXcQ/../../evil", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"),
    ("https://www.youtube.com/@somechannel", None),
    ("https://vimeo.com/about", None),
    ("https://drive.google.com/file/d/abc/view", None),
])
def test_embedded_player_of_hosted_videos(url, embed):
    assert embed_url(url) == embed
