"""Every word of our acknowledgement emails, in English, French and Spanish, in one place."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

DEFAULT = "en"

# Each language: subject lines and body paragraphs, with {named} fields filled in render().
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "subject_matched": "Auto: received – {ref} {title}",
        "subject_unmatched": "Auto: received – which action brief is it for?",
        "subject_correction": "Auto: moved to {ref} {title}",
        "subject_filed": "Auto: filed under {ref} {title}",
        "hello": "Hello,",
        "matched": 'Thank you. We received your message "{subject}" and filed it under the '
                   "action brief\n\n    {ref} – {title}",
        "unmatched": 'Thank you. We received your message "{subject}", but we could not tell '
                     "which action brief it belongs to.\n\nPlease reply to this message with "
                     "your brief's code (it looks like {example}); we will then file your "
                     "message under that brief.",
        "correction": 'Thank you. Your message "{moved}" is now filed under the action brief'
                      "\n\n    {ref} – {title}",
        "filed": 'Your message "{subject}" is now filed under the action brief'
                 "\n\n    {ref} – {title}",
        "upload": "A file too large to email can be sent at {url} (a broken upload "
                  "resumes).",
        "files": "What we received:",
        "link_fetched": "{url} – we have your {kind} ({size})",
        "link_signin": "{url} – the link needs sign-in: please share it with anyone who has "
                       "the link, or send the file another way",
        "link_failed": "{url} – we could not fetch the file behind this link; please send it "
                       "another way",
        "wrong": "If this is not the right brief, reply to this message with the right code "
                 "(it looks like {example}) and we will move it.",
        "footer": "This is an automatic message; you need not answer it otherwise.",
    },
    "fr": {
        "subject_matched": "Auto: reçu – {ref} {title}",
        "subject_unmatched": "Auto: reçu – pour quelle fiche d'action ?",
        "subject_correction": "Auto: déplacé vers {ref} {title}",
        "subject_filed": "Auto: classé sous {ref} {title}",
        "hello": "Bonjour,",
        "matched": "Merci. Nous avons reçu votre message « {subject} » et l'avons classé sous "
                   "la fiche d'action\n\n    {ref} – {title}",
        "unmatched": "Merci. Nous avons reçu votre message « {subject} », mais nous n'avons "
                     "pas pu déterminer à quelle fiche d'action il se rapporte.\n\nVeuillez "
                     "répondre à ce message en indiquant le code de votre fiche (il ressemble "
                     "à {example}) ; nous classerons alors votre message sous cette fiche.",
        "correction": "Merci. Votre message « {moved} » est maintenant classé sous la fiche "
                      "d'action\n\n    {ref} – {title}",
        "filed": "Votre message « {subject} » est maintenant classé sous la fiche "
                 "d'action\n\n    {ref} – {title}",
        "upload": "Un fichier trop lourd pour un e-mail peut être envoyé sur {url} (un envoi "
                  "coupé reprend).",
        "files": "Ce que nous avons reçu :",
        "link_fetched": "{url} – nous avons votre {kind} ({size})",
        "link_signin": "{url} – le lien demande une connexion : partagez-le avec toute "
                       "personne disposant du lien, ou envoyez le fichier autrement",
        "link_failed": "{url} – nous n'avons pas pu récupérer le fichier de ce lien ; "
                       "envoyez-le autrement",
        "wrong": "Si ce n'est pas la bonne fiche, répondez à ce message en indiquant le bon "
                 "code (il ressemble à {example}) et nous le déplacerons.",
        "footer": "Ce message est automatique ; vous n'avez pas besoin d'y répondre autrement.",
    },
    "es": {
        "subject_matched": "Auto: recibido – {ref} {title}",
        "subject_unmatched": "Auto: recibido – ¿a qué ficha de acción corresponde?",
        "subject_correction": "Auto: trasladado a {ref} {title}",
        "subject_filed": "Auto: archivado en {ref} {title}",
        "hello": "Hola:",
        "matched": "Gracias. Hemos recibido su mensaje «{subject}» y lo hemos archivado en la "
                   "ficha de acción\n\n    {ref} – {title}",
        "unmatched": "Gracias. Hemos recibido su mensaje «{subject}», pero no hemos podido "
                     "determinar a qué ficha de acción corresponde.\n\nResponda a este mensaje "
                     "indicando el código de su ficha (tiene este aspecto: {example}); "
                     "archivaremos entonces su mensaje en esa ficha.",
        "correction": "Gracias. Su mensaje «{moved}» está ahora archivado en la ficha de "
                      "acción\n\n    {ref} – {title}",
        "filed": "Su mensaje «{subject}» está ahora archivado en la ficha de "
                 "acción\n\n    {ref} – {title}",
        "upload": "Un archivo demasiado grande para el correo puede enviarse en {url} (un "
                  "envío cortado se reanuda).",
        "files": "Lo que hemos recibido:",
        "link_fetched": "{url} – tenemos su {kind} ({size})",
        "link_signin": "{url} – el enlace pide iniciar sesión: compártalo con cualquier "
                       "persona que tenga el enlace, o envíe el archivo de otro modo",
        "link_failed": "{url} – no hemos podido obtener el archivo de este enlace; envíelo "
                       "de otro modo",
        "wrong": "Si no es la ficha correcta, responda a este mensaje con el código correcto "
                 "(tiene este aspecto: {example}) y lo trasladaremos.",
        "footer": "Este es un mensaje automático; no necesita responder de otro modo.",
    },
}

# Names a survey may hold instead of a code ("Français", "Spanish", "espagnol").
_NAMES = {
    "english": "en", "anglais": "en", "ingles": "en",
    "french": "fr", "francais": "fr", "frances": "fr",
    "spanish": "es", "espanol": "es", "espagnol": "es", "castellano": "es",
    "arabic": "ar", "arabe": "ar", "chinese": "zh", "chinois": "zh", "chino": "zh",
    "russian": "ru", "russe": "ru", "ruso": "ru",
}
_THREE = {"eng": "en", "fra": "fr", "fre": "fr", "spa": "es", "ara": "ar", "zho": "zh",
          "chi": "zh", "rus": "ru"}

# Function words that tell English, French and Spanish apart in a short message.
_WORD_TEXT = {
    "en": "the and is are this our we you with for please here video attached of",
    "fr": "le la les et est nous vous votre notre avec pour voici une des du ci-joint bonjour"
          " merci",
    "es": "el los las y es nosotros usted su nuestro con para aquí adjunto una del hola gracias"
          " por",
}
_WORDS = {lang: frozenset(words.split()) for lang, words in _WORD_TEXT.items()}
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)?")


def _folded(value: str) -> str:
    text = unicodedata.normalize("NFKD", value.strip().casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def language_code(value: str | None) -> str | None:
    """"fr-CA", "fra", "Français" → "fr"; None when the value names no language we know."""
    if not value:
        return None
    folded = _folded(value)
    if folded in _NAMES:
        return _NAMES[folded]
    head = re.split(r"[-_.,;\s]", folded, maxsplit=1)[0]
    if head in _THREE:
        return _THREE[head]
    return head if len(head) == 2 and head.isalpha() else None


def guess_language(text: str) -> str | None:
    """en, fr or es when the function words clearly say so; None otherwise."""
    counts = {lang: 0 for lang in _WORDS}
    for word in _WORD.findall(text[:3000].casefold()):
        for lang, words in _WORDS.items():
            counts[lang] += word in words
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    (best, top), (_, second) = ranked[0], ranked[1]
    return best if top >= 3 and top >= 1.5 * second else None


def choose_language(*candidates: str | None) -> str:
    """The first candidate that names a language; ours when written, else English."""
    for candidate in candidates:
        code = language_code(candidate)
        if code:
            return code if code in TEXTS else DEFAULT
    return DEFAULT


_BREAKS = {"Cc", "Zl", "Zp"}  # controls (CR, LF, NUL…) and the Unicode line separators


def one_line(text: str | None, limit: int = 200) -> str:
    """Text safe for a header or a quoted title: no CR/LF or other controls, one line."""
    cleaned = "".join(" " if unicodedata.category(ch) in _BREAKS else ch for ch in text or "")
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


@dataclass
class AckContent:
    """What one acknowledgement says; render() turns it into a subject and a body."""

    kind: str  # matched | unmatched | correction
    language: str
    prefix: str  # the reference-code prefix, for the example
    subject: str = ""  # the submitter's subject
    ref: str = ""
    title: str = ""
    moved: str = ""  # correction: the subject of the message that was moved
    files: list[str] = field(default_factory=list)  # "clip.mp4 (12.3 MB)", links
    upload: str = ""  # the upload page for big files (issue 14); empty: not offered


def example_code(prefix: str) -> str:
    # Not a readable code on purpose: a reply quoting it must not match any brief.
    return f"{prefix}-•••••-•"


def render(content: AckContent) -> tuple[str, str]:
    """(subject, body) in the content's language."""
    texts = TEXTS.get(content.language, TEXTS[DEFAULT])
    values = {
        "ref": content.ref, "title": one_line(content.title, 120),
        "subject": one_line(content.subject, 120) or "…", "moved": one_line(content.moved, 120)
        or "…", "example": example_code(content.prefix),
    }
    subject = one_line(texts[f"subject_{content.kind}"].format(**values), 150)
    parts = [texts["hello"], texts[content.kind].format(**values)]
    if content.files:
        parts.append(texts["files"] + "\n" + "\n".join(f"  - {one_line(f, 300)}"
                                                      for f in content.files))
    if content.kind != "unmatched":
        parts.append(texts["wrong"].format(**values))
    if content.upload:
        parts.append(texts["upload"].format(url=content.upload))
    parts.append("-- \n" + texts["footer"])
    return subject, "\n\n".join(parts) + "\n"


KIND_WORDS = {"en": {"video": "video", "audio": "recording", "image": "picture",
                     "document": "document"},
              "fr": {"video": "vidéo", "audio": "enregistrement", "image": "image",
                     "document": "document"},
              "es": {"video": "vídeo", "audio": "grabación", "image": "imagen",
                     "document": "documento"}}


def describe_link(url: str, fetch: dict | None, language: str) -> str:
    """A link in "what we received", with what became of its file (issue #13)."""
    texts = TEXTS.get(language, TEXTS[DEFAULT])
    state = (fetch or {}).get("status")
    if state == "fetched":
        words = KIND_WORDS.get(language, KIND_WORDS[DEFAULT])
        kind = words.get(fetch.get("kind") or "video", words["video"])
        return texts["link_fetched"].format(url=url, kind=kind, size=human_size(fetch["size"]))
    if state == "failed":
        key = "link_signin" if fetch.get("reason") == "needs_signin" else "link_failed"
        return texts[key].format(url=url)
    return url  # not fetched yet, or a hosted video that stays a link


def human_size(size: int | None) -> str:
    if not size:
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
