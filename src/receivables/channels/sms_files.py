"""The demo's SMS outbox: Twilio's `client.messages` interface, writing each message to a file.

    client = SmsFileClient(Path(".data/outbox/2025-06-30/sms"))
    message = client.messages.create(to="+33612345678", from_="RECEIVABLES", body="...")
    message.sid            # 'SMf3a...': the file is <folder>/<sid>.json
    client.messages.list(to="+33612345678", date_sent=dt.date(2025, 6, 30))

Used when no Twilio account is configured, so `channels.sms.dispatch_sms` runs unchanged (claims,
states, reconciliation) and records provider 'file'. Each file is written whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FileMessage:
    sid: str
    to: str
    from_: str
    body: str
    status: str
    date_created: str
    send_at: str | None

    @property
    def date_sent(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.send_at or self.date_created)


class _Messages:
    def __init__(self, folder: Path):
        self.folder = folder

    def create(self, *, to: str, body: str, from_: str | None = None, messaging_service_sid: str | None = None,
               send_at: dt.datetime | None = None, schedule_type: str | None = None,
               status_callback: str | None = None) -> FileMessage:
        now = dt.datetime.now(dt.timezone.utc)
        sid = "SM" + hashlib.sha256(f"{to}|{body}|{now.isoformat()}".encode()).hexdigest()[:32]
        message = FileMessage(sid=sid, to=to, from_=from_ or messaging_service_sid or "", body=body,
                              status="scheduled" if send_at else "queued", date_created=now.isoformat(),
                              send_at=send_at.isoformat() if send_at else None)
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{sid}.json"
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(message.__dict__, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(temporary, target)
        return message

    def list(self, *, to: str | None = None, date_sent: dt.date | None = None, limit: int | None = None,
             page_size: int | None = None) -> list[FileMessage]:
        found = []
        for path in sorted(self.folder.glob("SM*.json")) if self.folder.is_dir() else []:
            message = FileMessage(**json.loads(path.read_text(encoding="utf-8")))
            if to is not None and message.to != to:
                continue
            if date_sent is not None and message.date_sent.date() != date_sent:
                continue
            found.append(message)
        return found[:limit] if limit else found


class SmsFileClient:
    provider = "file"

    def __init__(self, folder: Path):
        self.messages = _Messages(Path(folder))
