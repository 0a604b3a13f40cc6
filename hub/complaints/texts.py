"""Citizen- and operator-facing text of Lapor Yai (Bahasa Indonesia first, English second)."""

from __future__ import annotations

from hub import i18n

i18n.register(
    {
        # Statuses
        "complaints.status.belum_terverifikasi": ("Belum Terverifikasi", "Not yet verified"),
        "complaints.status.terverifikasi": ("Terverifikasi", "Verified"),
        "complaints.status.didisposisikan": ("Didisposisikan", "Forwarded to agency"),
        "complaints.status.dalam_proses": ("Dalam Proses", "In progress"),
        "complaints.status.selesai": ("Selesai", "Completed"),
        "complaints.status.ditunda": ("Ditunda", "On hold (more information needed)"),
        "complaints.status.bukan_kewenangan": ("Bukan Kewenangan", "Outside the city's authority"),
        "complaints.status.duplikat": ("Duplikat", "Duplicate"),
        "complaints.status.diarsipkan": ("Diarsipkan", "Archived"),
        # Actions
        "complaints.action.verify": ("Verifikasi", "Verify"),
        "complaints.action.postpone": ("Tunda (minta info)", "Put on hold (ask for information)"),
        "complaints.action.resume": ("Lanjutkan verifikasi", "Resume verification"),
        "complaints.action.reject": ("Bukan kewenangan", "Outside authority"),
        "complaints.action.dispose": ("Disposisi ke OPD", "Forward to agency"),
        "complaints.action.return": ("Kembalikan ke verifikator", "Return to verifier"),
        "complaints.action.follow_up": ("Tindak lanjut / jawaban", "Follow-up / answer"),
        "complaints.action.complete": ("Selesai", "Complete"),
        "complaints.action.reopen": ("Buka kembali", "Reopen"),
        "complaints.action.merge": ("Gabungkan (duplikat)", "Merge (duplicate)"),
        "complaints.action.archive": ("Arsipkan", "Archive"),
        "complaints.action.submit": ("Laporan dikirim", "Report submitted"),
        "complaints.action.response": ("Tanggapan pelapor", "Reporter's response"),
        # Classifications
        "complaints.classification.pengaduan": ("Pengaduan", "Complaint"),
        "complaints.classification.aspirasi": ("Aspirasi", "Suggestion"),
        "complaints.classification.permintaan_informasi": ("Permintaan Informasi", "Information request"),
        # Errors
        "complaints.error.form_body_expected": (
            "Kirim laporan sebagai multipart/form-data, bukan {content_type}. Kolom wajib: {required}; "
            "foto dikirim sebagai kolom file photos.",
            "Send the report as multipart/form-data, not {content_type}. Required fields: {required}; "
            "photos go in the file field photos.",
        ),
        "complaints.error.outside_city": (
            "Lokasi ({lat}, {lon}) berada di luar wilayah Kota Metro. Pilih titik di dalam batas kota pada peta.",
            "The location ({lat}, {lon}) is outside Kota Metro. Pick a point inside the city boundary on the map.",
        ),
        "complaints.error.cursor": (
            "Kursor halaman tidak valid; mulai lagi dari halaman pertama.",
            "Invalid page cursor; start again from the first page.",
        ),
        "complaints.error.cursor_with_offset": (
            "Gunakan cursor atau offset, tidak keduanya.",
            "Use either cursor or offset, not both.",
        ),
        "complaints.error.category": (
            "Kategori '{value}' tidak dikenal. Pilih salah satu kategori dari daftar.",
            "Unknown category '{value}'. Choose one of the listed categories.",
        ),
        "complaints.error.classification": (
            "Klasifikasi '{value}' tidak dikenal. Gunakan pengaduan, aspirasi atau permintaan_informasi.",
            "Unknown classification '{value}'. Use pengaduan, aspirasi or permintaan_informasi.",
        ),
        "complaints.error.description": (
            "Uraian laporan wajib diisi, 1 sampai 4000 karakter (sekarang {length}).",
            "The description is required, 1 to 4000 characters (now {length}).",
        ),
        "complaints.error.contact": ("Kontak tidak valid: {field}. Periksa lalu kirim ulang.", "Invalid contact: {field}. Check it and send again."),
        "complaints.error.too_many_photos": (
            "Paling banyak {max} foto per laporan (dikirim {count}).",
            "At most {max} photos per report ({count} sent).",
        ),
        "complaints.error.photo_too_large": (
            "Foto terlalu besar ({size_mb} MB). Batasnya {max_mb} MB.",
            "The photo is too large ({size_mb} MB). The limit is {max_mb} MB.",
        ),
        "complaints.error.photo_type": (
            "Jenis file foto tidak didukung. Kirim JPEG, PNG, WebP atau HEIC.",
            "Unsupported photo file type. Send JPEG, PNG, WebP or HEIC.",
        ),
        "complaints.error.photo_pixels": (
            "Resolusi foto terlalu besar. Batasnya {max_pixels} piksel.",
            "The photo's resolution is too large. The limit is {max_pixels} pixels.",
        ),
        "complaints.error.photo_unreadable": (
            "Foto rusak atau tidak dapat dibaca. Coba foto lain.",
            "The photo is damaged or unreadable. Try another photo.",
        ),
        "complaints.error.rate_limited": (
            "Terlalu banyak laporan dalam waktu singkat. Coba lagi dalam {minutes} menit.",
            "Too many reports in a short time. Try again in {minutes} minutes.",
        ),
        "complaints.error.idempotency_key": (
            "Idempotency-Key tidak valid: gunakan 8–128 karakter ASCII yang terlihat.",
            "Invalid Idempotency-Key: use 8-128 visible ASCII characters.",
        ),
        "complaints.error.idempotency_reused": (
            "Idempotency-Key ini sudah dipakai untuk laporan lain. Buat kunci baru untuk laporan baru.",
            "This Idempotency-Key was already used for another report. Make a new key for a new report.",
        ),
        "complaints.error.not_found": (
            "Laporan tidak ditemukan. Periksa kode pelacakan (contoh: LY-7KQ2-M9XD).",
            "Report not found. Check the tracking code (example: LY-7KQ2-M9XD).",
        ),
        "complaints.error.stale": (
            "Laporan sudah diubah oleh orang lain (versi {version}, status {status}). Muat ulang lalu ulangi.",
            "The report was changed by someone else (version {version}, status {status}). Reload and try again.",
        ),
        "complaints.error.transition": (
            "Tindakan '{action}' tidak diizinkan pada status '{status}'.",
            "Action '{action}' is not allowed in status '{status}'.",
        ),
        "complaints.error.note_required": ("Tindakan ini memerlukan catatan.", "This action needs a note."),
        "complaints.error.opd": ("OPD '{value}' tidak dikenal. Pilih OPD dari daftar.", "Unknown agency '{value}'. Choose one from the list."),
        "complaints.error.master": (
            "Laporan induk #{value} tidak valid: harus laporan lain yang bukan duplikat.",
            "Master report #{value} is invalid: it must be another report that is not a duplicate.",
        ),
        "complaints.error.response": (
            "Tanggapan wajib diisi, 1 sampai 4000 karakter.",
            "The response is required, 1 to 4000 characters.",
        ),
        "complaints.error.response_closed": (
            "Laporan ini sudah ditutup ({status}); tanggapan tidak dapat ditambahkan.",
            "This report is closed ({status}); responses can no longer be added.",
        ),
        # Pages
        "complaints.form.title": ("Lapor Yai — Laporkan Masalah", "Lapor Yai — Report a problem"),
        "complaints.form.intro": (
            "Laporkan jalan rusak, lampu jalan mati, sampah, drainase tersumbat dan masalah kota lainnya.",
            "Report damaged roads, street lights out, rubbish, blocked drains and other city problems.",
        ),
        "complaints.form.classification": ("Klasifikasi", "Classification"),
        "complaints.form.category": ("Kategori", "Category"),
        "complaints.form.location": ("Lokasi", "Location"),
        "complaints.form.location_help": (
            "Ketuk peta untuk memilih titik, atau gunakan posisi ponsel Anda.",
            "Tap the map to pick a point, or use your phone's position.",
        ),
        "complaints.form.use_position": ("Gunakan posisi saya", "Use my position"),
        "complaints.form.lat": ("Lintang", "Latitude"),
        "complaints.form.lon": ("Bujur", "Longitude"),
        "complaints.form.address": ("Alamat / patokan (opsional)", "Address / landmark (optional)"),
        "complaints.form.description": ("Uraian", "Description"),
        "complaints.form.photos": ("Foto (maks. 3)", "Photos (max. 3)"),
        "complaints.form.contact": ("Kontak (opsional)", "Contact (optional)"),
        "complaints.form.name": ("Nama", "Name"),
        "complaints.form.phone": ("Nomor telepon", "Phone number"),
        "complaints.form.email": ("E-mail", "E-mail"),
        "complaints.form.anonymous": (
            "Anonim — identitas saya disembunyikan dari publik dan OPD",
            "Anonymous — hide my identity from the public and the agencies",
        ),
        "complaints.form.confidential": (
            "Rahasia — laporan tidak ditampilkan ke publik",
            "Confidential — do not show this report publicly",
        ),
        "complaints.form.submit": ("Kirim laporan", "Send report"),
        "complaints.form.sending": ("Mengirim…", "Sending…"),
        "complaints.form.nearby": (
            "Laporan serupa di dekat lokasi ini (mungkin sudah dilaporkan):",
            "Similar reports near this location (may already be reported):",
        ),
        "complaints.form.done": ("Laporan terkirim. Simpan kode pelacakan Anda:", "Report sent. Keep your tracking code:"),
        "complaints.form.gps_found": ("Lokasi diambil dari foto.", "Location taken from the photo."),
        "complaints.form.outside_city": (
            "Titik itu di luar batas Kota Metro. Ketuk di dalam garis biru.",
            "That point is outside Kota Metro. Tap inside the blue outline.",
        ),
        "complaints.track.title": ("Cek status laporan", "Check report status"),
        "complaints.track.code": ("Kode pelacakan", "Tracking code"),
        "complaints.track.submit": ("Cek", "Check"),
        "complaints.track.history": ("Riwayat", "History"),
        "complaints.track.respond": ("Tambahkan tanggapan", "Add a response"),
        "complaints.track.respond_submit": ("Kirim tanggapan", "Send response"),
        "complaints.track.new": ("Buat laporan baru", "Make a new report"),
        "complaints.queue.title": ("Antrean laporan", "Report queue"),
        "complaints.queue.map": ("Peta laporan", "Report map"),
        "complaints.queue.overdue": ("Lewat batas waktu", "Overdue"),
        "complaints.queue.all": ("Semua", "All"),
        "complaints.queue.filter": ("Saring", "Filter"),
        "complaints.queue.empty": ("Tidak ada laporan.", "No reports."),
        "complaints.queue.next": ("Halaman berikutnya", "Next page"),
        "complaints.queue.due": ("Batas waktu", "Due"),
        "complaints.queue.created": ("Masuk", "Received"),
        "complaints.field.status": ("Status", "Status"),
        "complaints.field.opd": ("OPD", "Agency"),
        "complaints.field.note": ("Catatan", "Note"),
        "complaints.field.master": ("Nomor laporan induk", "Master report number"),
        "complaints.field.reporter": ("Pelapor", "Reporter"),
        "complaints.field.hidden": ("Disembunyikan (anonim)", "Hidden (anonymous)"),
        "complaints.field.confidential": ("Rahasia", "Confidential"),
        "complaints.field.anonymous": ("Anonim", "Anonymous"),
        "complaints.detail.actions": ("Tindakan", "Actions"),
        "complaints.detail.duplicates": ("Kemungkinan duplikat", "Possible duplicates"),
        "complaints.detail.photos": ("Foto", "Photos"),
        "complaints.nav.complaints": ("Laporan Warga", "Citizen reports"),
    }
)


def status_label(status: str, language: str) -> str:
    return i18n.translate(f"complaints.status.{status}", language)
