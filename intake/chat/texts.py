"""Everything the chat bot says, in English, French and Spanish (English when we lack one)."""

from __future__ import annotations

EN = {
    "welcome": (
        "Hello! I collect practices and their videos for the call for innovative practices.\n"
        "• If you filled in the survey, send /brief and your code (it looks like {example}).\n"
        "• To describe a new practice, send /new.\n"
        "• Then send videos, photos, voice notes or text here.\n"
        "/status shows what this chat sent, /help shows this again."),
    "matched": "Received ✓ Filed under {ref} “{title}”.",
    "filed_later": "Update: this is now filed under {ref} “{title}”. Thank you!",
    "unmatched_choose": (
        "Received ✓ Which practice is this for? Tap it below, or send /brief and its code "
        "(for example /brief {example})."),
    "unmatched": (
        "Received ✓ Which practice is this for? Send /brief and its code (for example "
        "/brief {example}), or /new to describe a new practice."),
    "failed": "Received ✓ We could not read it automatically; a coordinator will look at it.",
    "too_large": (
        "⚠ This {what} is too large for the chat ({size}; the limit is {limit}). We kept its "
        "details but not the file."),
    "too_large_unsized": (
        "⚠ This {what} is too large for the chat (the limit is {limit}). We kept its details "
        "but not the file."),
    "too_large_email": "Please send it by email to {email}{mention}, or share a link to it "
                       "(Google Drive, Dropbox, WeTransfer…) here.",
    "too_large_link": "Please share a link to it (Google Drive, Dropbox, WeTransfer…) here.",
    "too_large_upload": " Or upload it here (a broken upload resumes): {url}",  # issue 14
    "mention": " and mention {ref}",
    "bound": (
        "This chat is now linked to {ref} “{title}”. Send videos, photos, voice notes or text "
        "here and they will be filed under it."),
    "bound_filed": "{count} earlier message(s) from this chat are now filed under it too.",
    "unknown_code": (
        "I could not find the code “{code}”. Please check it (it looks like {example}), or "
        "send /new to describe a new practice."),
    "no_code": "Please add the code, for example: /brief {example}",
    "ask_title": (
        "Let us describe your practice in seven short answers (send /cancel to stop).\n\n"
        "1/7 What is the practice called? A short title, please."),
    "ask_country": "2/7 In which country (or countries) does it take place?",
    "ask_level": "3/7 At which level: local, national, regional or global?",
    "ask_problem": "4/7 Which problem does it address?",
    "ask_done": "5/7 What was done?",
    "ask_results": "6/7 What were the results?",
    "ask_contact": "7/7 How can we contact you (name, email or phone)? Send - to skip.",
    "need_text": "Please answer with a few words of text (or /cancel).",
    "created": (
        "Thank you! Your practice is registered as {ref} “{title}”.\n"
        "Send its videos, photos and voice notes here: they will be filed under it. "
        "Colleagues can use this link: {link}"),
    "cancelled": "Stopped; nothing was saved. Send /new to start again.",
    "nothing_to_cancel": "There is nothing to cancel.",
    "status_empty": "Nothing has been received from this chat yet.",
    "status_head": "What this chat sent (newest first):",
    "status_matched": "{ref} “{title}”",
    "status_unmatched": "waiting for a coordinator",
    "status_received": "being processed",
    "status_failed": "a coordinator will look at it",
    "status_rejected": "not kept",
    "status_too_large": " (file too large: please send it by email)",
    "assigned": "Thank you, filed under {ref} “{title}”.",
    "assigned_short": "Filed under {ref}",
    "settled": "A coordinator has already filed this one.",
    "choice_gone": "This choice is no longer available.",
    "edited": "Updated ✓ Now filed under {ref} “{title}”.",
    "unknown_command": "I do not know that command. /help lists what I can do.",
    "what_video": "video",
    "what_image": "photo",
    "what_audio": "audio recording",
    "what_document": "document",
    "what_other": "file",
    "what_text": "message",
}

FR = {
    "welcome": (
        "Bonjour ! Je recueille les pratiques et leurs vidéos pour l’appel à pratiques "
        "innovantes.\n"
        "• Si vous avez rempli l’enquête, envoyez /brief suivi de votre code (il ressemble à "
        "{example}).\n"
        "• Pour décrire une nouvelle pratique, envoyez /new.\n"
        "• Envoyez ensuite ici vos vidéos, photos, messages vocaux ou textes.\n"
        "/status montre ce que cette conversation a envoyé, /help affiche ce message."),
    "matched": "Reçu ✓ Classé sous {ref} « {title} ».",
    "filed_later": "Mise à jour : c’est maintenant classé sous {ref} « {title} ». Merci !",
    "unmatched_choose": (
        "Reçu ✓ À quelle pratique cela correspond-il ? Choisissez-la ci-dessous, ou envoyez "
        "/brief suivi de son code (par exemple /brief {example})."),
    "unmatched": (
        "Reçu ✓ À quelle pratique cela correspond-il ? Envoyez /brief suivi de son code (par "
        "exemple /brief {example}), ou /new pour décrire une nouvelle pratique."),
    "failed": "Reçu ✓ Nous n’avons pas pu le lire automatiquement ; une coordinatrice ou un "
              "coordinateur va s’en occuper.",
    "too_large": (
        "⚠ Ce fichier ({what}) est trop volumineux pour la conversation ({size} ; la limite "
        "est de {limit}). Nous avons gardé ses informations, mais pas le fichier."),
    "too_large_unsized": (
        "⚠ Ce fichier ({what}) est trop volumineux pour la conversation (la limite est de "
        "{limit}). Nous avons gardé ses informations, mais pas le fichier."),
    "too_large_email": "Merci de l’envoyer par e-mail à {email}{mention}, ou de partager ici "
                       "un lien (Google Drive, Dropbox, WeTransfer…).",
    "too_large_link": "Merci de partager ici un lien vers ce fichier (Google Drive, Dropbox, "
                      "WeTransfer…).",
    "too_large_upload": " Ou déposez-le ici (un envoi coupé reprend) : {url}",
    "mention": " en indiquant {ref}",
    "bound": (
        "Cette conversation est maintenant liée à {ref} « {title} ». Envoyez ici vidéos, photos, "
        "messages vocaux ou textes : ils y seront classés."),
    "bound_filed": "{count} message(s) précédent(s) de cette conversation y sont aussi classés.",
    "unknown_code": (
        "Je ne trouve pas le code « {code} ». Vérifiez-le (il ressemble à {example}), ou "
        "envoyez /new pour décrire une nouvelle pratique."),
    "no_code": "Ajoutez le code, par exemple : /brief {example}",
    "ask_title": (
        "Décrivons votre pratique en sept réponses courtes (envoyez /cancel pour arrêter).\n\n"
        "1/7 Comment s’appelle la pratique ? Un titre court, s’il vous plaît."),
    "ask_country": "2/7 Dans quel(s) pays a-t-elle lieu ?",
    "ask_level": "3/7 À quel niveau : local, national, régional ou mondial ?",
    "ask_problem": "4/7 À quel problème répond-elle ?",
    "ask_done": "5/7 Qu’est-ce qui a été fait ?",
    "ask_results": "6/7 Quels ont été les résultats ?",
    "ask_contact": "7/7 Comment vous joindre (nom, e-mail ou téléphone) ? Envoyez - pour passer.",
    "need_text": "Répondez par quelques mots de texte, s’il vous plaît (ou /cancel).",
    "created": (
        "Merci ! Votre pratique est enregistrée sous {ref} « {title} ».\n"
        "Envoyez ici ses vidéos, photos et messages vocaux : ils y seront classés. "
        "Vos collègues peuvent utiliser ce lien : {link}"),
    "cancelled": "Arrêté ; rien n’a été enregistré. Envoyez /new pour recommencer.",
    "nothing_to_cancel": "Il n’y a rien à annuler.",
    "status_empty": "Rien n’a encore été reçu de cette conversation.",
    "status_head": "Ce que cette conversation a envoyé (du plus récent au plus ancien) :",
    "status_matched": "{ref} « {title} »",
    "status_unmatched": "en attente d’une coordinatrice ou d’un coordinateur",
    "status_received": "en cours de traitement",
    "status_failed": "une coordinatrice ou un coordinateur va s’en occuper",
    "status_rejected": "non retenu",
    "status_too_large": " (fichier trop volumineux : envoyez-le par e-mail)",
    "assigned": "Merci, classé sous {ref} « {title} ».",
    "assigned_short": "Classé sous {ref}",
    "settled": "Une coordinatrice ou un coordinateur l’a déjà classé.",
    "choice_gone": "Ce choix n’est plus disponible.",
    "edited": "Mis à jour ✓ Maintenant classé sous {ref} « {title} ».",
    "unknown_command": "Je ne connais pas cette commande. /help indique ce que je sais faire.",
    "what_video": "vidéo",
    "what_image": "photo",
    "what_audio": "enregistrement audio",
    "what_document": "document",
    "what_other": "fichier",
    "what_text": "message",
}

ES = {
    "welcome": (
        "¡Hola! Recojo prácticas y sus videos para la convocatoria de prácticas innovadoras.\n"
        "• Si respondió la encuesta, envíe /brief y su código (se parece a {example}).\n"
        "• Para describir una práctica nueva, envíe /new.\n"
        "• Después envíe aquí videos, fotos, notas de voz o texto.\n"
        "/status muestra lo que envió este chat, /help muestra este mensaje."),
    "matched": "Recibido ✓ Archivado en {ref} «{title}».",
    "filed_later": "Novedad: ahora está archivado en {ref} «{title}». ¡Gracias!",
    "unmatched_choose": (
        "Recibido ✓ ¿A qué práctica corresponde? Elíjala abajo, o envíe /brief y su código "
        "(por ejemplo /brief {example})."),
    "unmatched": (
        "Recibido ✓ ¿A qué práctica corresponde? Envíe /brief y su código (por ejemplo "
        "/brief {example}), o /new para describir una práctica nueva."),
    "failed": "Recibido ✓ No pudimos leerlo automáticamente; una persona coordinadora lo "
              "revisará.",
    "too_large": (
        "⚠ Este archivo ({what}) es demasiado grande para el chat ({size}; el límite es "
        "{limit}). Guardamos sus datos, pero no el archivo."),
    "too_large_unsized": (
        "⚠ Este archivo ({what}) es demasiado grande para el chat (el límite es {limit}). "
        "Guardamos sus datos, pero no el archivo."),
    "too_large_email": "Por favor, envíelo por correo a {email}{mention}, o comparta aquí un "
                       "enlace (Google Drive, Dropbox, WeTransfer…).",
    "too_large_link": "Por favor, comparta aquí un enlace al archivo (Google Drive, Dropbox, "
                      "WeTransfer…).",
    "too_large_upload": " O súbalo aquí (un envío cortado se reanuda): {url}",
    "mention": " indicando {ref}",
    "bound": (
        "Este chat ahora está vinculado a {ref} «{title}». Envíe aquí videos, fotos, notas de "
        "voz o texto y se archivarán allí."),
    "bound_filed": "{count} mensaje(s) anterior(es) de este chat también quedan archivados allí.",
    "unknown_code": (
        "No encuentro el código «{code}». Revíselo (se parece a {example}), o envíe /new para "
        "describir una práctica nueva."),
    "no_code": "Añada el código, por ejemplo: /brief {example}",
    "ask_title": (
        "Describamos su práctica en siete respuestas cortas (envíe /cancel para parar).\n\n"
        "1/7 ¿Cómo se llama la práctica? Un título corto, por favor."),
    "ask_country": "2/7 ¿En qué país (o países) se lleva a cabo?",
    "ask_level": "3/7 ¿A qué nivel: local, nacional, regional o mundial?",
    "ask_problem": "4/7 ¿Qué problema aborda?",
    "ask_done": "5/7 ¿Qué se hizo?",
    "ask_results": "6/7 ¿Cuáles fueron los resultados?",
    "ask_contact": "7/7 ¿Cómo podemos contactarle (nombre, correo o teléfono)? Envíe - para "
                   "omitir.",
    "need_text": "Responda con unas palabras de texto, por favor (o /cancel).",
    "created": (
        "¡Gracias! Su práctica quedó registrada como {ref} «{title}».\n"
        "Envíe aquí sus videos, fotos y notas de voz: se archivarán allí. "
        "Sus colegas pueden usar este enlace: {link}"),
    "cancelled": "Detenido; no se guardó nada. Envíe /new para empezar de nuevo.",
    "nothing_to_cancel": "No hay nada que cancelar.",
    "status_empty": "Todavía no se ha recibido nada de este chat.",
    "status_head": "Lo que envió este chat (lo más reciente primero):",
    "status_matched": "{ref} «{title}»",
    "status_unmatched": "esperando a una persona coordinadora",
    "status_received": "en proceso",
    "status_failed": "una persona coordinadora lo revisará",
    "status_rejected": "no conservado",
    "status_too_large": " (archivo demasiado grande: envíelo por correo)",
    "assigned": "Gracias, archivado en {ref} «{title}».",
    "assigned_short": "Archivado en {ref}",
    "settled": "Una persona coordinadora ya lo archivó.",
    "choice_gone": "Esta opción ya no está disponible.",
    "edited": "Actualizado ✓ Ahora archivado en {ref} «{title}».",
    "unknown_command": "No conozco ese comando. /help muestra lo que puedo hacer.",
    "what_video": "video",
    "what_image": "foto",
    "what_audio": "grabación de audio",
    "what_document": "documento",
    "what_other": "archivo",
    "what_text": "mensaje",
}

TEXTS = {"en": EN, "fr": FR, "es": ES}


def language(code: str | None) -> str:
    """Our language for a chat app's language code ("fr-CA" → "fr"); English when we lack it."""
    base = (code or "").lower().replace("_", "-").split("-")[0]
    return base if base in TEXTS else "en"


def say(lang: str | None, key: str, **args: object) -> str:
    texts = TEXTS[language(lang)]
    return texts.get(key, EN[key]).format(**args)


def size_text(size: int | None) -> str:
    if not size:
        return "?"
    return f"{size / 1_000_000:.1f} MB"
