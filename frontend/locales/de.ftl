# Ferry's web app in German: the same messages as en.ftl (frontend/src/i18n.rs).

## Sizes, durations, counts (format.rs)
size-bytes = { $n ->
    [one] { $n } Byte
   *[other] { $n } Bytes
}
duration-days = { $n ->
    [one] 1 Tag
   *[other] { $n } Tage
}
duration-hours = { $n ->
    [one] 1 Stunde
   *[other] { $n } Stunden
}
duration-minutes = { $n ->
    [one] 1 Minute
   *[other] { $n } Minuten
}
duration-seconds = { $n ->
    [one] 1 Sekunde
   *[other] { $n } Sekunden
}
eta-seconds = { $s } s
eta-minutes = { $m } min { $s } s
eta-hours = { $h } h { $m } min
strength-weak = Schwach: leicht zu erraten für jeden, der an den Link kommt.
strength-fair = Mittel: genügt gegen die wenigen Versuche, die der Server erlaubt, ist aber schwach, wenn der Link bekannt wird.
strength-good = Gut.
strength-strong = Stark.

## Drop zone and what is chosen (drop_zone.rs, selection_list.rs, file_list.rs)
drop-hint = Dateien oder Ordner hier ablegen, oder klicken (oder Eingabetaste drücken), um Dateien auszuwählen.
choose-folder = Ordner auswählen…
choose-files = Dateien auswählen
choose-folder-label = Ordner auswählen
choose-files-to-send = Dateien zum Senden auswählen
entry-folder = Ordner
share-files-zip =
    { $files ->
        [one] 1 Datei
       *[other] { $files } Dateien
    }{ $folders ->
        [0] {""}
        [one] {" "}und 1 leerer Ordner
       *[other] {" "}und { $folders } leere Ordner
    } in dieser Freigabe, gespeichert als eine ZIP-Datei
and-more = und { $n } weitere
pick-empty-folder = leerer Ordner
pick-folder =
    Ordner, { $n ->
        [one] 1 Datei
       *[other] { $n } Dateien
    }, { $size }
remove-label = { $name } entfernen
remove = Entfernen
selection-total =
    { $files ->
        [one] 1 Datei
       *[other] { $files } Dateien
    }{ $folders ->
        [0] {""}
        [one] , 1 leerer Ordner
       *[other] , { $folders } leere Ordner
    }, insgesamt { $size }.
chosen-label = Ausgewählte Dateien und Ordner
count-files =
    { $n ->
        [one] { $n } Datei
       *[other] { $n } Dateien
    }

## An interrupted upload (interrupted.rs)
resume-checking = Die unterbrochene Übertragung wird fortgesetzt: die Datei wird mit dem bereits Gesendeten verglichen…
resume-continued = Die unterbrochene Übertragung wird fortgesetzt: { $already } von { $total } waren schon auf dem Server.
resume-other-passphrase = Die unterbrochene Übertragung wurde nicht fortgesetzt: die Passphrase ist nicht die, mit der sie begann. Stattdessen beginnt eine neue.
resume-other-file = Die unterbrochene Übertragung wurde nicht fortgesetzt: das ist nicht die Datei, die sie gesendet hat. Stattdessen beginnt eine neue.
resume-file-changed = Die unterbrochene Übertragung wurde nicht fortgesetzt: die Datei hat sich seither geändert, daher wurde sie verworfen. Stattdessen beginnt eine neue.
resume-server-refused = Die unterbrochene Übertragung wurde nicht fortgesetzt: der Server hat sie nicht mehr (abgelaufen oder entfernt), daher wurde sie verworfen. Stattdessen beginnt eine neue.
interrupted-one = Eine Übertragung einer Datei von { $size } wurde unterbrochen. Wählen Sie dieselbe Datei und geben Sie dieselbe Passphrase ein, um sie fortzusetzen.
interrupted-several = Eine Übertragung mehrerer Dateien wurde unterbrochen. Wählen Sie dieselben Dateien und geben Sie dieselbe Passphrase ein, um sie fortzusetzen.
interrupted-discarded = Die unterbrochene Übertragung wurde verworfen.
interrupted-discard = Unterbrochene Übertragung verwerfen

## Upload credentials and invitations (invitation.rs, invite_form.rs, upload_token.rs)
invitation-too-large = Diese Datei ist { $size } groß; die Einladung erlaubt eine Datei von bis zu { $max }.
invitation-checking = Die Einladung wird geprüft…
invitation-usable = Sie wurden eingeladen, eine Datei von bis zu { $max } zu senden, bis { $until }.
invitation-unusable = Diese Einladung kann nicht verwendet werden: { $why }.
invitation-used = Diese Einladung ist nun verbraucht: sie hat Ihnen erlaubt, diese eine Datei zu senden.

## The share link (share_link.rs)
copy = Kopieren
copied = In die Zwischenablage kopiert.
copy-selected = Markiert: zum Kopieren Strg+C (oder ⌘C) drücken.
share-link = Link zum Teilen
qr-label = QR-Code des Links
qr-hint = Scannen, um den Link auf einem Telefon zu öffnen.

## Share settings (share_choices.rs)
expires-after = Läuft ab nach
download-limit = Download-Limit
downloads-count =
    { $n ->
        [one] 1 Download
       *[other] { $n } Downloads
    }
invite-token-first = Geben Sie zuerst Ihr Upload-Token ein.
invite-none-sent = der Server hat keine Einladung geschickt
invite-title = Jemanden einladen, Ihnen eine Datei zu senden
invite-explain = Die Person erhält einen Link, mit dem sie ohne Token eine Datei an diesen Server senden kann.
invite-largest = Größte Datei
invite-valid-for = Link gültig für
invite-create = Einladungslink erstellen
invite-link = Einladungslink
invite-shown-once = Er wird nur einmal angezeigt. Nach einer Datei funktioniert er nicht mehr.
invite-failed = Es wurde keine Einladung erstellt: { $why }.
token-label = Upload-Token
token-show-label = Upload-Token anzeigen
hide = Verbergen
show = Anzeigen
token-help-before = Dieser Server nimmt Uploads nur von Personen an, denen er ein Upload-Token (ft1.…) oder einen Einladungslink gegeben hat. Sein Betreiber erstellt Tokens mit
token-help-after = . Das Token bleibt nur im Speicher dieses Tabs und wird beim Schließen vergessen.

## The passphrase and a running transfer (passphrase_field.rs, progress.rs)
strength-bits = Etwa { $bits } Bit. { $hint }
passphrase = Passphrase
phase-keys = Schlüssel werden aus der Passphrase abgeleitet…
phase-connecting = Verbindung zum Server wird hergestellt…
phase-uploading = Verschlüsseln und hochladen…
phase-downloading = Herunterladen und entschlüsseln…
phase-finishing-upload = Upload wird abgeschlossen…
phase-finishing-download = Download wird abgeschlossen…
phase-reconnecting = Die Verbindung ist abgebrochen. Neuer Verbindungsversuch… (Versuch { $attempt } von { $tries })
upload-progress = Upload-Fortschritt
download-progress = Download-Fortschritt
cancel = Abbrechen
time-left = noch { $eta }

## The finished share (shared_panel.rs)
status-waiting =
    Noch nicht heruntergeladen. { $left ->
        [one] 1 Download
       *[other] { $left } Downloads
    } erlaubt; läuft ab { $expires }.
status-downloaded =
    { $done ->
        [one] 1 Mal
       *[other] { $done } Mal
    } heruntergeladen; noch { $left ->
        [one] 1 Download
       *[other] { $left } Downloads
    }.
status-gone = Nicht mehr verfügbar: bis zum Limit heruntergeladen, abgelaufen oder gelöscht.
status-unknown = Status unbekannt: { $why }
status-not-yet = Noch nicht heruntergeladen.
status-deleted = Gelöscht: der Link funktioniert nicht mehr.
delete-failed = Löschen fehlgeschlagen: { $why }
ready-to-share = Bereit zum Teilen
reminder-strong = Senden Sie die Passphrase auf einem anderen Weg
reminder-rest = (ein Anruf, eine andere App, persönlich), nie zusammen mit dem Link. Wer beides hat, kann die Datei öffnen.
expires-at = Läuft ab { $when }.
refresh-status = Status aktualisieren
delete = Löschen
send-another = Weitere Datei senden

## Errors from the server's API (api.rs), the bundle (bundle.rs), the app (lib.rs)
api-status = der Server antwortete mit Status { $status }
api-network = der Server ist nicht erreichbar; prüfen Sie Ihre Verbindung
selection-refused = Diese Dateien können nicht in einer Freigabe gesendet werden: { $why }.
bundle-failed = Der Browser konnte die Dateien nicht zusammenstellen; bitte wählen Sie sie erneut.
manifest-empty = es gibt nichts zu senden
manifest-too-many = zu viele Dateien und Ordner (höchstens { $max })
manifest-too-long = der Pfad { $path } ist zu lang (höchstens { $max } Bytes)
manifest-too-deep = der Pfad { $path } ist zu tief verschachtelt (höchstens { $max } Ebenen)
manifest-not-relative = der Pfad { $path } ist kein einfacher relativer Pfad
not-found = Seite nicht gefunden
send-a-file = Eine Datei senden
tagline = Ende-zu-Ende-verschlüsseltes Teilen von Dateien
footer = Die Verschlüsselung geschieht in Ihrem Browser. Der Server hält immer nur Chiffretext.
app-title = Ferry: Ende-zu-Ende-verschlüsseltes Teilen von Dateien
language = Sprache

## The send page (pages/send/)
file-too-large = Diese Datei ist { $size } groß; dieser Server nimmt Dateien bis { $max } an.
files-too-large = Diese Dateien sind zusammen { $size } groß; dieser Server nimmt Dateien bis { $max } an.
choose-first = Wählen Sie zuerst die Dateien zum Senden aus.
limits-reload = Die Grenzen des Servers konnten nicht geladen werden; laden Sie die Seite neu.
enter-passphrase = Geben Sie eine Passphrase ein: der Empfänger braucht sie, um die Datei zu öffnen.
invitation-not-now = Diese Einladung kann jetzt nicht verwendet werden (siehe oben).
enter-token = Geben Sie Ihr Upload-Token ein: dieser Server nimmt Uploads nur mit einem an.
upload-failed = Der Upload ist fehlgeschlagen: { $why }
upload-cancelled = Upload abgebrochen. Auf dem Server wurde nichts behalten.
limits-loading = Die Grenzen des Servers werden geladen…
limits-failed = Die Grenzen des Servers konnten nicht geladen werden: { $why }
limits-hint = Dateien bis insgesamt { $size }. Bis zu { $entries } Dateien und Ordner, jeder Pfad höchstens { $bytes } Bytes lang und { $depth } Ebenen tief.
encrypt-upload = Verschlüsseln und hochladen
send-lead = Die Datei wird in diesem Browser verschlüsselt, bevor sie ihn verlässt; der Server speichert nur Chiffretext und sieht weder die Passphrase noch den geheimen Teil des Links.

## The receive page (pages/receive/)
unavailable-not-ferry = Diese Freigabe stammt nicht von Ferry: sie verlangt zu wenig Arbeit bei der Schlüsselableitung, wodurch ihre Passphrase leicht zu erraten wäre. Geben Sie die Passphrase hier nicht ein; sagen Sie es dem Absender.
unavailable-damaged = Diese Freigabe ist beschädigt (ihr öffentlicher Kopf ist ungültig); bitten Sie den Absender, die Datei erneut zu senden.
unavailable-not-found = Unter diesem Link wartet keine Datei: sie wurde gelöscht, schon heruntergeladen oder hat nie existiert.
unavailable-expired = Dieser Link ist abgelaufen: die Datei wurde gelöscht und kann nicht mehr heruntergeladen werden.
unavailable-used-up = Diese Datei wurde bereits heruntergeladen: der Link erlaubte keine weiteren Downloads.
unavailable-unknown = Der Server konnte nicht sagen, ob eine Datei wartet: { $why }
saved-used-up = „{ $name }“ gespeichert. Der Link ist nun verbraucht.
saved-more =
    „{ $name }“ gespeichert. Der Link erlaubt noch { $n ->
        [one] 1 Download
       *[other] { $n } Downloads
    }.
saved = „{ $name }“ gespeichert.
wrong-passphrase-left =
    Falsche Passphrase (oder der Link ist nicht der, den der Absender Ihnen gegeben hat). Noch { $n ->
        [one] 1 Versuch
       *[other] { $n } Versuche
    }. Bitte versuchen Sie es erneut.
wrong-passphrase = Falsche Passphrase (oder der Link ist nicht der, den der Absender Ihnen gegeben hat). Bitte versuchen Sie es erneut.
corrupted-handed-over = Die Datei wurde im Speicher verändert und ist nicht vertrauenswürdig. Der Download wurde gestoppt und als fehlgeschlagen markiert: löschen Sie jede Teildatei. Bitten Sie den Absender, sie erneut zu senden.
corrupted = Die Datei wurde im Speicher verändert und ist nicht vertrauenswürdig. Es wurde nichts gespeichert. Bitten Sie den Absender, sie erneut zu senden.
download-cancelled = Download abgebrochen. Es wurde nichts gespeichert, und der Download wurde nicht gezählt.
link-expired = Dieser Link ist abgelaufen.
no-longer-available = Diese Datei ist nicht mehr verfügbar: sie wurde bereits heruntergeladen oder gelöscht.
download-busy = Jemand anderes lädt diese Datei gerade herunter; versuchen Sie es in einer Minute erneut.
claim-lost = Die Verbindung war zu lange unterbrochen, und der Server hat diesen Download beendet: eine Teildatei ist unvollständig, löschen Sie sie. Versuchen Sie es erneut, wenn der Link noch einen Download erlaubt.
download-failed = Der Download ist fehlgeschlagen: { $why }
enter-received-passphrase = Geben Sie die Passphrase ein, die Ihnen der Absender gegeben hat.
blob-too-large = Dieser Browser kann von dieser Adresse Dateien bis { $max } speichern; diese ist größer.
download-not-started = Der Browser hat den Download nicht gestartet; laden Sie die Seite neu und versuchen Sie es erneut.
download-lost = Der Browser hat die entschlüsselte Datei verloren.
save-refused = Der Browser hat das Speichern der Datei verweigert.
waiting =
    Eine Datei wartet auf Sie ({ $size }). Sie läuft ab { $expires }; noch { $left ->
        [one] 1 Download
       *[other] { $left } Downloads
    }.
blob-too-large-explained = Dieser Browser kann von dieser Adresse Dateien bis { $max } speichern (sie ist nicht https, also muss die Datei im Speicher gehalten werden); diese ist größer.
save-streamed = Die Datei wird beim Entschlüsseln in Ihre Downloads gespeichert; eine Datei, die die Prüfung nicht besteht, wird als fehlgeschlagen markiert, nie als vollständig.
save-in-memory = Von dieser Adresse (nicht https) kann der Browser nicht direkt auf die Festplatte schreiben: Dateien bis { $max } werden bis zum Speichern im Arbeitsspeicher gehalten.
download-frame = Die Datei, die gespeichert wird
download = Herunterladen
receive-title = Eine Datei empfangen
checking-link = Der Link wird geprüft…
link-incomplete = Dieser Link ist unvollständig: der Teil nach „#“ fehlt oder ist beschädigt. Bitten Sie den Absender, den ganzen Link noch einmal zu senden.

## Why a transfer failed, after "The upload failed: " or "The download failed: " (failures.rs)
why-network = die Verbindung zum Server ist abgebrochen oder kam nicht zustande; bitte versuchen Sie es erneut.
why-read = die Datei konnte nicht gelesen werden oder hat sich beim Senden geändert; wählen Sie sie erneut und starten Sie einen neuen Upload.
why-empty-passphrase = es wurde keine Passphrase angegeben.
why-credential-required = dieser Server nimmt Uploads nur mit einem Upload-Token oder einer Einladung an.
why-server-internal = auf dem Server ist ein Fehler aufgetreten; nichts wurde gespeichert. Bitte versuchen Sie es später erneut.
why-too-many-connections = der Server hat so viele Verbindungen offen, wie er zulässt; bitte versuchen Sie es in einer Minute erneut.
why-unsupported-version = der Server spricht eine andere Version von Ferry; laden Sie die Seite neu.
why-segment-mismatch = die Datei hat sich seit Beginn dieses Uploads geändert; starten Sie einen neuen Upload.
why-forbidden-origin = dieser Server nimmt keine Übertragungen von der Adresse dieser Seite an.
