"""Send a sample submission to a running `intake serve` (the README's walk-through).

    python samples/send_sample.py [--port 8025] [--subject TEXT] [--attach FILE]
"""

import argparse
import smtplib
from email.message import EmailMessage
from pathlib import Path

# A few bytes that really are an MP4 header, so the media is recognised as a video.
TINY_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--sender", default="field.team@example.net")
    parser.add_argument("--to", default="videos@intake.localhost")
    parser.add_argument("--subject",
                        default="Video: Brigadas móviles de vacunación en comunidades rurales")
    parser.add_argument("--attach", type=Path, help="a video file to attach (default: a tiny one)")
    args = parser.parse_args()
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = args.sender, args.to, args.subject
    msg.set_content("Hello, here is the video of our practice. Best regards.")
    data = args.attach.read_bytes() if args.attach else TINY_MP4
    name = args.attach.name if args.attach else "brigadas.mp4"
    msg.add_attachment(data, maintype="video", subtype="mp4", filename=name)
    with smtplib.SMTP(args.host, args.port) as client:
        client.send_message(msg)
    print(f"sent {name} ({len(data)} bytes) to {args.host}:{args.port}: {args.subject!r}")


if __name__ == "__main__":
    main()
