# Ferry's web app in English: every text the pages show (frontend/src/i18n.rs).
# The German catalogue (de.ftl) has exactly the same messages; a test checks.

## Sizes, durations, counts (format.rs)
size-bytes = { $n ->
    [one] { $n } byte
   *[other] { $n } bytes
}
duration-days = { $n ->
    [one] 1 day
   *[other] { $n } days
}
duration-hours = { $n ->
    [one] 1 hour
   *[other] { $n } hours
}
duration-minutes = { $n ->
    [one] 1 minute
   *[other] { $n } minutes
}
duration-seconds = { $n ->
    [one] 1 second
   *[other] { $n } seconds
}
eta-seconds = { $s } s
eta-minutes = { $m } min { $s } s
eta-hours = { $h } h { $m } min
strength-weak = Weak: easy to guess for anyone who gets hold of the link.
strength-fair = Fair: fine against the server's few allowed tries, weak if the link leaks.
strength-good = Good.
strength-strong = Strong.

## Drop zone and what is chosen (drop_zone.rs, selection_list.rs, file_list.rs)
drop-hint = Drop files or folders here, or click (or press Enter) to choose files.
choose-folder = Choose a folder…
choose-files = Choose files
choose-folder-label = Choose a folder
choose-files-to-send = Choose files to send
entry-folder = folder
share-files-zip =
    { $files ->
        [one] 1 file
       *[other] { $files } files
    }{ $folders ->
        [0] {""}
        [one] {" "}and 1 empty folder
       *[other] {" "}and { $folders } empty folders
    } in this share, saved as one ZIP
and-more = and { $n } more
pick-empty-folder = empty folder
pick-folder =
    folder, { $n ->
        [one] 1 file
       *[other] { $n } files
    }, { $size }
remove-label = Remove { $name }
remove = Remove
selection-total =
    { $files ->
        [one] 1 file
       *[other] { $files } files
    }{ $folders ->
        [0] {""}
        [one] , 1 empty folder
       *[other] , { $folders } empty folders
    }, { $size } in all.
chosen-label = Chosen files and folders
count-files =
    { $n ->
        [one] { $n } file
       *[other] { $n } files
    }

## An interrupted upload (interrupted.rs)
resume-checking = Continuing the interrupted upload: checking the file against what was sent before…
resume-continued = Continuing the interrupted upload: { $already } of { $total } were already on the server.
resume-other-passphrase = The interrupted upload was not continued: the passphrase is not the one it used. A new upload starts instead.
resume-other-file = The interrupted upload was not continued: this is not the file it was sending. A new upload starts instead.
resume-file-changed = The interrupted upload was not continued: the file changed since, so it was discarded. A new upload starts instead.
resume-server-refused = The interrupted upload was not continued: the server no longer has it (expired or removed), so it was discarded. A new upload starts instead.
interrupted-one = An upload of a file of { $size } was interrupted. Choose the same file and type the same passphrase to continue it.
interrupted-several = An upload of several files was interrupted. Choose the same file and type the same passphrase to continue it.
interrupted-discarded = The interrupted upload was discarded.
interrupted-discard = Discard the interrupted upload

## Upload credentials and invitations (invitation.rs, invite_form.rs, upload_token.rs)
invitation-too-large = This file is { $size }; the invitation allows one file of up to { $max }.
invitation-checking = Checking the invitation…
invitation-usable = You have been invited to send one file of up to { $max }, until { $until }.
invitation-unusable = This invitation cannot be used: { $why }.
invitation-used = This invitation is now used: it let you send this one file.

## The share link (share_link.rs)
copy = Copy
copied = Copied to the clipboard.
copy-selected = Selected: press Ctrl+C (or ⌘C) to copy.
share-link = Share link
qr-label = QR code of the share link
qr-hint = Scan to open the link on a phone.

## Share settings (share_choices.rs)
expires-after = Expires after
download-limit = Download limit
downloads-count =
    { $n ->
        [one] 1 download
       *[other] { $n } downloads
    }
invite-token-first = Enter your upload token first.
invite-none-sent = the server sent no invitation
invite-title = Invite someone to send you a file
invite-explain = They get a link that lets them send one file to this server, without a token.
invite-largest = Largest file
invite-valid-for = Link valid for
invite-create = Create invitation link
invite-link = Invitation link
invite-shown-once = It is shown once. It stops working after one file.
invite-failed = No invitation was made: { $why }.
token-label = Upload token
token-show-label = Show upload token
hide = Hide
show = Show
token-help-before = This server accepts uploads only from people it gave an upload token (ft1.…) or an invitation link. Its operator makes tokens with
token-help-after = . The token stays in this tab's memory and is forgotten when you close it.

## The passphrase and a running transfer (passphrase_field.rs, progress.rs)
strength-bits = About { $bits } bits. { $hint }
passphrase = Passphrase
phase-keys = Deriving keys from the passphrase…
phase-connecting = Connecting to the server…
phase-uploading = Encrypting and uploading…
phase-downloading = Downloading and decrypting…
phase-finishing-upload = Finishing the upload…
phase-finishing-download = Finishing the download…
phase-reconnecting = The connection was lost. Reconnecting… (attempt { $attempt } of { $tries })
upload-progress = Upload progress
download-progress = Download progress
cancel = Cancel
time-left = { $eta } left

## The finished share (shared_panel.rs)
status-waiting =
    Not downloaded yet. { $left ->
        [one] 1 download
       *[other] { $left } downloads
    } allowed; expires { $expires }.
status-downloaded =
    Downloaded { $done ->
        [one] 1 time
       *[other] { $done } times
    }; { $left ->
        [one] 1 download
       *[other] { $left } downloads
    } left.
status-gone = No longer available: downloaded to its limit, expired or deleted.
status-unknown = Status unknown: { $why }
status-not-yet = Not downloaded yet.
status-deleted = Deleted: the link no longer works.
delete-failed = Could not delete: { $why }
ready-to-share = Ready to share
reminder-strong = Send the passphrase by another channel
reminder-rest = (a call, a different app, in person), never together with the link. Whoever has both can open the file.
expires-at = Expires { $when }.
refresh-status = Refresh status
delete = Delete
send-another = Send another file

## Errors from the server's API (api.rs), the bundle (bundle.rs), the app (lib.rs)
api-status = the server answered with status { $status }
api-network = the server could not be reached; check your connection
selection-refused = These files cannot be sent in one share: { $why }.
bundle-failed = The browser could not gather the files; please choose them again.
manifest-empty = there is nothing to send
manifest-too-many = too many files and folders (at most { $max })
manifest-too-long = the path { $path } is too long (at most { $max } bytes)
manifest-too-deep = the path { $path } is too deep (at most { $max } levels)
manifest-not-relative = the path { $path } is not a plain relative path
not-found = Page not found
send-a-file = Send a file
tagline = End-to-end encrypted file sharing
footer = Encryption happens in your browser. The server only ever holds ciphertext.
app-title = Ferry: end-to-end encrypted file sharing
language = Language

## The send page (pages/send/)
file-too-large = This file is { $size }; this server accepts files up to { $max }.
files-too-large = These files come to { $size }; this server accepts files up to { $max }.
choose-first = Choose the files to send first.
limits-reload = The server's limits could not be loaded; reload the page.
enter-passphrase = Enter a passphrase: the recipient will need it to open the file.
invitation-not-now = This invitation cannot be used now (see above).
enter-token = Enter your upload token: this server accepts uploads only with one.
upload-failed = The upload failed: { $why }
upload-cancelled = Upload cancelled. Nothing was kept on the server.
limits-loading = Loading the server's limits…
limits-failed = The server's limits could not be loaded: { $why }
limits-hint = Files up to { $size } in all. Up to { $entries } files and folders, each path at most { $bytes } bytes long and { $depth } levels deep.
encrypt-upload = Encrypt and upload
send-lead = The file is encrypted in this browser before it leaves; the server stores only ciphertext and never sees the passphrase or the link's secret part.

## The receive page (pages/receive/)
unavailable-not-ferry = This share was not made by Ferry: it asks for too little key-derivation work, which would make its passphrase cheap to guess. Do not type the passphrase here; tell the sender.
unavailable-damaged = This share is damaged (its public header is invalid); ask the sender to send the file again.
unavailable-not-found = No file is waiting at this link: it was deleted, already downloaded, or never existed.
unavailable-expired = This link has expired: the file was deleted and can no longer be downloaded.
unavailable-used-up = This file has already been downloaded: the link allowed no more downloads.
unavailable-unknown = The server could not say whether a file is waiting: { $why }
saved-used-up = Saved “{ $name }”. The link is now used up.
saved-more =
    Saved “{ $name }”. The link allows { $n ->
        [one] 1 more download
       *[other] { $n } more downloads
    }.
saved = Saved “{ $name }”.
wrong-passphrase-left =
    Wrong passphrase (or the link is not the one the sender gave you). { $n ->
        [one] 1 attempt
       *[other] { $n } attempts
    } left. Please try again.
wrong-passphrase = Wrong passphrase (or the link is not the one the sender gave you). Please try again.
corrupted-handed-over = The file was altered in storage and cannot be trusted. The download was stopped and marked failed: delete any partial file. Ask the sender to send it again.
corrupted = The file was altered in storage and cannot be trusted. Nothing was saved. Ask the sender to send it again.
download-cancelled = Download cancelled. Nothing was saved, and the download was not counted.
link-expired = This link has expired.
no-longer-available = This file is no longer available: it has already been downloaded, or was deleted.
download-busy = Someone else is downloading this file right now; try again in a minute.
claim-lost = The connection was lost for too long, and the server ended this download: any partial file is incomplete, delete it. Try again if the link still allows a download.
download-failed = The download failed: { $why }
enter-received-passphrase = Enter the passphrase the sender gave you.
blob-too-large = This browser can save files up to { $max } from this address; this one is larger.
download-not-started = The browser refused to start the download; reload the page and try again.
download-lost = The browser lost the decrypted file.
save-refused = The browser refused to save the file.
waiting =
    A file is waiting for you ({ $size }). It expires { $expires }; { $left ->
        [one] 1 download
       *[other] { $left } downloads
    } left.
blob-too-large-explained = This browser can save files up to { $max } from this address (it is not https, so the file must be held in memory); this one is larger.
save-streamed = The file is saved to your downloads as it is decrypted; a file that fails verification is marked failed, never complete.
save-in-memory = From this address (not https) the browser cannot stream to disk: files up to { $max } are kept in memory until saved.
download-frame = The file being saved
download = Download
receive-title = Receive a file
checking-link = Checking the link…
link-incomplete = This link is incomplete: the part after “#” is missing or damaged. Ask the sender to send the whole link again.

## Why a transfer failed, after "The upload failed: " or "The download failed: " (failures.rs)
why-network = the connection to the server was lost or could not be opened; please try again.
why-read = the file could not be read, or it changed while it was sent; choose it again and start a new upload.
why-empty-passphrase = no passphrase was given.
why-credential-required = this server accepts uploads only with an upload token or an invitation.
why-server-internal = the server failed; nothing was kept. Please try again later.
why-too-many-connections = the server has as many connections open as it allows; please try again in a minute.
why-unsupported-version = the server speaks another version of Ferry; reload the page.
why-segment-mismatch = the file changed since this upload began; start a new upload.
why-forbidden-origin = this server does not accept transfers from this page's address.
