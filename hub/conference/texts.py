"""Operator-facing text of the teleconference feature (Bahasa Indonesia, English)."""

from __future__ import annotations

from hub import i18n

i18n.register(
    {
        "conference.start": ("Mulai telekonferensi", "Start teleconference"),
        "conference.join": ("Gabung", "Join"),
        "conference.end": ("Akhiri", "End"),
        "conference.title": ("Telekonferensi", "Teleconferences"),
        "conference.upcoming": ("Terjadwal", "Upcoming"),
        "conference.active": ("Sedang berlangsung", "In progress"),
        "conference.none": ("Tidak ada telekonferensi.", "No teleconferences."),
        "conference.guest_link": ("Buat tautan tamu", "Create guest link"),
        "conference.reissue": ("Terbitkan ulang", "Reissue"),
        "conference.participants": ("Peserta", "Participants"),
        "conference.moderator": ("moderator", "moderator"),
        "conference.link": ("Tautan bergabung", "Join link"),
        "conference.link_valid_until": ("Tautan berlaku sampai {time} WIB", "Link valid until {time} WIB"),
        "conference.revoke": ("Cabut", "Revoke"),
        "conference.field.title": ("Judul", "Title"),
        "conference.field.start": ("Waktu mulai (WIB)", "Start time (WIB)"),
        "conference.field.backend": ("Layanan", "Service"),
        "conference.link_once": (
            "Tautan ini hanya ditampilkan sekali. Kirimkan langsung kepada penerima.",
            "This link is shown only once. Send it straight to its recipient.",
        ),
        "conference.audit.created": ("{actor} memulai telekonferensi ({backend})", "{actor} started a teleconference ({backend})"),
        "conference.audit.invited": ("{actor} mengundang {who}", "{actor} invited {who}"),
        "conference.audit.link_issued": ("{actor} menerbitkan tautan untuk {who}", "{actor} issued a link for {who}"),
        "conference.audit.link_revoked": ("{actor} mencabut tautan {who}", "{actor} revoked the link of {who}"),
        "conference.audit.ended": ("Telekonferensi diakhiri: {reason}", "Teleconference ended: {reason}"),
        "conference.audit.backend_closed": ("Ruang rapat ditutup di server", "Meeting room closed on the server"),
        "conference.reason.ended_by_operator": ("diakhiri operator", "ended by an operator"),
        "conference.reason.event_ended": ("kejadian selesai", "the incident ended"),
        "conference.reason.complaint_closed": ("pengaduan ditutup", "the complaint was closed"),
        "conference.reason.expired": ("batas waktu habis", "time limit reached"),
        "conference.system": ("Sistem", "System"),
        "error.conference.not_found": ("Telekonferensi {id} tidak ditemukan.", "Teleconference {id} was not found."),
        "error.conference.ended": (
            "Telekonferensi ini sudah berakhir. Mulai telekonferensi baru bila perlu.",
            "This teleconference has ended. Start a new one if needed.",
        ),
        "error.conference.not_open": (
            "Telekonferensi belum dibuka. Coba lagi mulai {opens} WIB.",
            "The teleconference is not open yet. Try again from {opens} WIB.",
        ),
        "error.conference.event_missing": (
            "Kejadian {id} tidak ditemukan. Periksa nomornya.",
            "Incident {id} was not found. Check the reference.",
        ),
        "error.conference.complaint_missing": (
            "Pengaduan {id} tidak ditemukan. Periksa nomor atau kode lacaknya.",
            "Complaint {id} was not found. Check its number or tracking code.",
        ),
        "error.conference.complaint_closed": (
            "Pengaduan {id} sudah ditutup, jadi telekonferensi tidak dapat dimulai.",
            "Complaint {id} is already closed, so a teleconference cannot start.",
        ),
        "error.conference.bad_request": ("Permintaan tidak valid: {problem}", "Invalid request: {problem}"),
        "error.conference.backend_unconfigured": (
            "Layanan {backend} belum dikonfigurasi. Hubungi admin.",
            "The {backend} service is not configured. Contact an admin.",
        ),
        "error.conference.backend_failed": (
            "Server rapat tidak dapat dihubungi. Coba lagi sebentar lagi.",
            "The meeting server could not be reached. Try again shortly.",
        ),
        "error.conference.not_invited": (
            "Anda tidak diundang ke telekonferensi ini.",
            "You are not invited to this teleconference.",
        ),
        "error.conference.link_not_found": ("Tautan {id} tidak ditemukan.", "Link {id} was not found."),
        "error.conference.token_rejected": ("Token ditolak: {reason}", "Token rejected: {reason}"),
    }
)
