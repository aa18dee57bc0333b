"""Every sentence of the upload page, in English, French and Spanish (one place)."""

from __future__ import annotations

LANGUAGES = ("en", "fr", "es")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Send your video",
        "intro_link": "Choose the file to send for brief {ref}. If the connection breaks, "
                      "open this page again and the upload goes on where it stopped.",
        "intro_general": "Type the reference code of your brief and your email address, "
                         "then choose the file. If the connection breaks, open this page "
                         "again and the upload goes on where it stopped.",
        "code": "Reference code (for example HLH-7K2QX-M)",
        "code_ok": "Code looks right.",
        "code_bad": "This code is not complete or has a typing mistake.",
        "email": "Your email address",
        "email_ok": "",
        "email_bad": "Please check your email address.",
        "file": "File",
        "start": "Send",
        "pause": "Pause",
        "resume": "Resume",
        "progress": "{percent}% sent ({done} of {total})",
        "speed": "{speed}/s",
        "left": "about {time} left",
        "waiting": "Connection lost; trying again…",
        "done": "Received, thank you. You can close this page.",
        "failed": "The upload failed: {reason}",
        "too_big": "This file is larger than {max}.",
        "resuming": "Continuing an earlier upload of this file.",
    },
    "fr": {
        "title": "Envoyer votre vidéo",
        "intro_link": "Choisissez le fichier à envoyer pour la fiche {ref}. Si la connexion "
                      "coupe, rouvrez cette page : l'envoi reprend là où il s'est arrêté.",
        "intro_general": "Saisissez le code de référence de votre fiche et votre adresse "
                         "e-mail, puis choisissez le fichier. Si la connexion coupe, rouvrez "
                         "cette page : l'envoi reprend là où il s'est arrêté.",
        "code": "Code de référence (par exemple HLH-7K2QX-M)",
        "code_ok": "Le code semble correct.",
        "code_bad": "Ce code est incomplet ou contient une faute de frappe.",
        "email": "Votre adresse e-mail",
        "email_ok": "",
        "email_bad": "Veuillez vérifier votre adresse e-mail.",
        "file": "Fichier",
        "start": "Envoyer",
        "pause": "Pause",
        "resume": "Reprendre",
        "progress": "{percent} % envoyé ({done} sur {total})",
        "speed": "{speed}/s",
        "left": "environ {time} restant",
        "waiting": "Connexion perdue ; nouvel essai…",
        "done": "Bien reçu, merci. Vous pouvez fermer cette page.",
        "failed": "L'envoi a échoué : {reason}",
        "too_big": "Ce fichier dépasse {max}.",
        "resuming": "Reprise d'un envoi précédent de ce fichier.",
    },
    "es": {
        "title": "Envíe su vídeo",
        "intro_link": "Elija el archivo que enviar para la ficha {ref}. Si se corta la "
                      "conexión, vuelva a abrir esta página y el envío seguirá donde se quedó.",
        "intro_general": "Escriba el código de referencia de su ficha y su correo "
                         "electrónico, y elija el archivo. Si se corta la conexión, vuelva a "
                         "abrir esta página y el envío seguirá donde se quedó.",
        "code": "Código de referencia (por ejemplo HLH-7K2QX-M)",
        "code_ok": "El código parece correcto.",
        "code_bad": "Este código está incompleto o tiene un error de escritura.",
        "email": "Su correo electrónico",
        "email_ok": "",
        "email_bad": "Revise su correo electrónico.",
        "file": "Archivo",
        "start": "Enviar",
        "pause": "Pausa",
        "resume": "Continuar",
        "progress": "{percent} % enviado ({done} de {total})",
        "speed": "{speed}/s",
        "left": "quedan unos {time}",
        "waiting": "Se perdió la conexión; reintentando…",
        "done": "Recibido, gracias. Puede cerrar esta página.",
        "failed": "El envío falló: {reason}",
        "too_big": "Este archivo supera {max}.",
        "resuming": "Continuando un envío anterior de este archivo.",
    },
}


def pick_language(accept_language: str | None, wanted: str | None = None) -> str:
    """?lang= if we have it, else the first Accept-Language we speak, else English."""
    if wanted in TEXTS:
        return wanted
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in TEXTS:
            return tag
    return "en"
