"""Operator-facing text of the dashboard pages, Bahasa Indonesia first, English second."""

from __future__ import annotations

from hub import i18n

TEXTS = {
    "state.online": ("Daring", "Online"),
    "state.offline": ("Luring", "Offline"),
    "state.stopped": ("Berhenti", "Stopped"),
    "state.unknown": ("Belum diketahui", "Unknown"),
    "event.state.active": ("Berlangsung", "Active"),
    "event.state.ended": ("Selesai", "Ended"),
    "event.kind.new": ("baru", "new"),
    "event.kind.update": ("diperbarui", "updated"),
    "event.kind.end": ("selesai", "ended"),
    "dash.cameras": ("Kamera", "Cameras"),
    "dash.feed": ("Kejadian terbaru", "Latest events"),
    "dash.feed_empty": ("Belum ada kejadian.", "No events yet."),
    "dash.no_cameras": ("Belum ada kamera terdaftar.", "No cameras registered yet."),
    "dash.no_snapshot": ("Belum ada cuplikan", "No snapshot yet"),
    "dash.last_seen": ("Terakhir terlihat", "Last seen"),
    "dash.live": ("Langsung", "Live"),
    "dash.connection_lost": ("Koneksi pembaruan langsung terputus; mencoba lagi…", "Live updates disconnected; retrying…"),
    "events.title": ("Daftar kejadian", "Events"),
    "events.camera": ("Kamera", "Camera"),
    "events.label": ("Jenis objek", "Object"),
    "events.zone": ("Zona", "Zone"),
    "events.since": ("Sejak", "From"),
    "events.until": ("Sampai", "Until"),
    "events.state": ("Status", "State"),
    "events.all": ("Semua", "All"),
    "events.filter": ("Saring", "Filter"),
    "events.start": ("Mulai", "Start"),
    "events.end": ("Selesai", "End"),
    "events.score": ("Keyakinan", "Confidence"),
    "events.next": ("Halaman berikutnya", "Next page"),
    "events.first": ("Halaman pertama", "First page"),
    "events.none": ("Tidak ada kejadian yang cocok.", "No matching events."),
    "event.title": ("Kejadian {label} di {camera}", "Event: {label} at {camera}"),
    "event.snapshot": ("Cuplikan", "Snapshot"),
    "event.snapshot_annotated": ("Cuplikan bertanda", "Annotated snapshot"),
    "event.clip": ("Klip video", "Video clip"),
    "event.no_media": ("Media belum diunggah oleh kamera.", "The camera has not uploaded media yet."),
    "event.earlier_snapshots": ("Cuplikan sebelumnya ({count})", "Earlier snapshots ({count})"),
    "event.pending_upload": ("menunggu unggahan", "waiting for upload"),
    "event.end_reason": ("Alasan selesai", "End reason"),
    "event.clock_unsynced": ("Jam kamera belum tersinkron; waktu bisa keliru.", "The camera clock is not synchronised; times may be wrong."),
    "camera.title": ("Kamera {name}", "Camera {name}"),
    "camera.address": ("Alamat", "Address"),
    "camera.position": ("Koordinat", "Coordinates"),
    "camera.source": ("Sumber video", "Video source"),
    "camera.agent": ("Versi agen", "Agent version"),
    "camera.fps": ("Frame per detik", "Frames per second"),
    "camera.inference": ("Waktu inferensi (ms)", "Inference time (ms)"),
    "camera.temp": ("Suhu CPU (°C)", "CPU temperature (°C)"),
    "camera.disk": ("Ruang disk bebas", "Free disk space"),
    "camera.video": ("Video dari kamera", "Video from camera"),
    "camera.video_ok": ("diterima", "receiving"),
    "camera.video_lost": ("terputus", "lost"),
    "camera.health": ("Riwayat kesehatan", "Health history"),
    "camera.time": ("Waktu", "Time"),
    "camera.dropped": ("Frame terlewat", "Dropped frames"),
    "camera.outbox": ("Antrean kirim", "Send queue"),
    "camera.no_health": ("Belum ada data kesehatan.", "No health data yet."),
    "camera.commands": ("Perintah", "Commands"),
    "camera.cmd_snapshot": ("Ambil cuplikan", "Take snapshot"),
    "camera.cmd_reload": ("Muat ulang konfigurasi", "Reload configuration"),
    "camera.cmd_sent": ("Perintah dikirim.", "Command sent."),
    "camera.cmd_status.pending": ("menunggu", "pending"),
    "camera.cmd_status.ok": ("berhasil", "succeeded"),
    "camera.cmd_status.failed": ("gagal", "failed"),
    "camera.cmd_status.expired": ("kedaluwarsa", "expired"),
    "camera.recent_events": ("Kejadian terbaru", "Recent events"),
    "camera.reason": ("Keterangan", "Reason"),
    "map.title": ("Peta titik CCTV", "CCTV map"),
    "map.no_tiles": (
        "Peta dasar tidak dimuat; batas kota dan titik kamera tetap ditampilkan.",
        "No base map loaded; the city boundary and camera points are still shown.",
    ),
}

# Object classes an agent reports (COCO names from the detector). A label without an
# entry is shown as the agent sent it.
OBJECT_LABELS = {
    "person": ("orang", "person"),
    "bicycle": ("sepeda", "bicycle"),
    "car": ("mobil", "car"),
    "motorcycle": ("sepeda motor", "motorcycle"),
    "bus": ("bus", "bus"),
    "truck": ("truk", "truck"),
    "train": ("kereta", "train"),
    "dog": ("anjing", "dog"),
    "cat": ("kucing", "cat"),
    "bird": ("burung", "bird"),
    "horse": ("kuda", "horse"),
    "cow": ("sapi", "cow"),
    "goat": ("kambing", "goat"),
}
END_REASONS = {
    "left_view": ("objek keluar dari pandangan", "object left the view"),
    "camera_offline": ("kamera terputus", "camera went offline"),
    "max_duration": ("batas durasi tercapai", "maximum duration reached"),
    "shutdown": ("agen dihentikan", "agent stopped"),
}

i18n.register(TEXTS)
i18n.register({f"object.{label}": texts for label, texts in OBJECT_LABELS.items()})
i18n.register({f"event.end_reason.{reason}": texts for reason, texts in END_REASONS.items()})


def object_label(label: str, language: str) -> str:
    """Return the name of an object class in ``language``, or ``label`` itself when it has none."""
    return i18n.translate(f"object.{label}", language) if label in OBJECT_LABELS else label


def end_reason_text(reason: str, language: str) -> str:
    """Return why an event ended in ``language``, or ``reason`` itself when it is unknown."""
    return i18n.translate(f"event.end_reason.{reason}", language) if reason in END_REASONS else reason

# Keys the browser scripts need, sent once per page as a JSON data block.
SCRIPT_KEYS = (
    "state.online", "state.offline", "state.stopped", "state.unknown",
    "event.kind.new", "event.kind.update", "event.kind.end", "event.state.active", "event.state.ended",
    "dash.connection_lost", "dash.no_snapshot",
    "camera.cmd_sent", "camera.cmd_status.ok", "camera.cmd_status.failed",
    *(f"object.{label}" for label in OBJECT_LABELS),
)


def script_texts(language: str) -> dict[str, str]:
    return {key: i18n.translate(key, language) for key in SCRIPT_KEYS}
