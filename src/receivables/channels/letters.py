"""Printed messages: one PDF per customer envelope and a print batch for the print room.

    summary = print_letters(engine, part=(0, 2), now=now, as_of=as_of, out_dir=Path(".data/runs"),
                            creditor=Creditor.from_env(os.environ), legal=load_rules("FR"))
    summary["batch_id"]      # '2025-06-30-p0of2-1'
    # .data/runs/2025-06-30/print/2025-06-30-p0of2-1/
    #     batch.pdf                          every envelope, in manifest order (one file to print)
    #     2025-06-30-p0of2-1-0001.pdf ...    one PDF per envelope (the same pages)
    #     manifest.csv                       one row per envelope: who, where, how, which pages

The 'letter' dispatcher claims the ready outbox rows of its part (channels letter, statement,
formal_notice, agency_handoff), renders them from the plan and puts them into envelopes: one per
customer and mail class, because one envelope costs one stamp and the post treats each class
differently.

- 'ordinary' (letters, statements): ordinary mail; a reminder letter and a statement of the same
  customer on the same day share an envelope;
- 'LRAR' (formal notices): registered mail with acknowledgement of receipt
  ("lettre recommandée avec accusé de réception"), the proof of the date the debtor was put on
  notice; it never rides with ordinary mail (a registered envelope is deposited at the counter
  with its own form);
- 'agency' (agency hand-offs): the letter telling the customer that the file goes to the
  collection agency. Its template also says "registered letter with acknowledgement", so it is
  registered mail too, but in an envelope of its own, not beside a formal notice: its
  acknowledgement of receipt goes into the customer's file that is handed to the agency, one
  proof per legal step, and the print room can route that class (copy to the agency) apart.

Each letter is laid out on its own (its pages are numbered 1/N within the letter, and its first
page carries our header and the customer's address where a French window envelope shows it), so
an envelope's first page is the address page of its first letter. Letters are laid out once with
WeasyPrint (`render_document`), the pages of up to CHUNK_LETTERS letters are written in ONE
`write_pdf` (fonts embedded and subset once; a batch of several chunks is their PDFs end to end),
and each envelope's PDF is cut from it by page range with pypdf: writing each letter through
WeasyPrint would subset and embed the fonts once per letter (see bench/letters.py for the figures).

Exactly once: the claimed rows are 'sending' (committed) before anything is rendered. The files
are written into a staging folder ('.<batch_id>.partial') and renamed into place; then ONE transaction inserts the
`print_batches` row and moves every printed row to 'sent' (provider 'print', the envelope id, the
postal address on one line, the letter's pages). The print room takes the batches listed in
`print_batches`, never a folder alone: a folder whose commit failed is removed (and, after a hard
crash, replaced by the next run, which reuses its batch id). A row found in 'sending' when the task
starts was claimed by a run that never committed its batch, so it never reached the printer: it is
released and claimed again. A customer without a postal address is suppressed ('no postal
address'), in the same transaction.

Pure: no Airflow, no environment, no clock (`now` and `as_of` are given).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import datetime as dt
import gc
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pypdf import PdfReader, PdfWriter
from sqlalchemy import Engine, insert, select

from receivables.channels import outbox
from receivables.channels.messages import rendered
from receivables.scenarios.legal import LegalRules
from receivables.scenarios.render import Creditor, Rendered, address_lines, render_document
from receivables.warehouse.schema import print_batches

DISPATCHER = "letter"
PROVIDER = "print"
NO_ADDRESS = "no postal address"

# channel -> mail class; the classes in the order the batch prints them
MAIL_CLASS = {"letter": "ordinary", "statement": "ordinary", "formal_notice": "LRAR", "agency_handoff": "agency"}
MAIL_CLASSES = ("ordinary", "LRAR", "agency")
REGISTERED = frozenset({"LRAR", "agency"})
# within an envelope: the legal letter first, then the reminder, then the statement it refers to
CHANNEL_ORDER = {"formal_notice": 0, "agency_handoff": 1, "letter": 2, "statement": 3}

CHUNK_LETTERS = 200        # letters laid out, held in memory, then written at once (see write_batch)

MANIFEST_COLUMNS = ["envelope_id", "customer_id", "name", "address", "country", "mail_class", "registered",
                    "pages", "first_page", "last_page", "action_keys", "file"]


@dataclass
class Letter:
    action_key: str
    channel: str
    message: Rendered
    pages: int = 0


@dataclass
class Envelope:
    envelope_id: str
    customer_id: str
    name: str
    address: list[str]
    country: str
    mail_class: str
    letters: list[Letter] = field(default_factory=list)
    first_page: int = 0            # 1-based, in batch.pdf

    @property
    def registered(self) -> bool:
        return self.mail_class in REGISTERED

    @property
    def pages(self) -> int:
        return sum(letter.pages for letter in self.letters)

    @property
    def last_page(self) -> int:
        return self.first_page + self.pages - 1

    @property
    def file(self) -> str:
        return f"{self.envelope_id}.pdf"

    @property
    def recipient(self) -> str:
        """The postal address on one line, as the outbox records it."""
        return ", ".join(part for part in (self.name, *self.address) if part)


def batch_prefix(as_of: dt.date, part: tuple[int, int]) -> str:
    index, count = part
    return f"{as_of.isoformat()}-p{index}of{count}-"


def next_batch_id(conn, as_of: dt.date, part: tuple[int, int]) -> str:  # noqa: ANN001
    """'<as_of>-p<index>of<count>-<n>': n is 1 + the highest n committed for that date and part."""
    prefix = batch_prefix(as_of, part)
    known = conn.execute(select(print_batches.c.batch_id).where(
        print_batches.c.as_of == as_of, print_batches.c.batch_id.startswith(prefix, autoescape=True))).scalars()
    numbers = [int(tail) for tail in (b[len(prefix):] for b in known) if tail.isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1}"


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).strip()


def envelopes_of(messages, batch_id: str) -> tuple[list[Envelope], dict[str, str]]:  # noqa: ANN001
    """Group (outbox row, Rendered, customer) into envelopes, one per customer and mail class, in
    print order (class, country, customer); returns them and {action_key: reason} of the rows
    that cannot be mailed."""
    by_key: dict[tuple[str, str], Envelope] = {}
    unmailable: dict[str, str] = {}
    for row, message, customer in messages:
        key, channel = str(row["action_key"]), str(row["channel"])
        lines = address_lines(customer.get("address"))
        if not lines:
            unmailable[key] = NO_ADDRESS
            continue
        customer_id = str(row["customer_id"])
        mail_class = MAIL_CLASS[channel]
        envelope = by_key.get((customer_id, mail_class))
        if envelope is None:
            envelope = by_key[(customer_id, mail_class)] = Envelope(
                "", customer_id, _text(customer.get("name")), lines, _text(customer.get("country")).upper(), mail_class)
        envelope.letters.append(Letter(key, channel, message))
    ordered = sorted(by_key.values(), key=lambda e: (MAIL_CLASSES.index(e.mail_class), e.country, e.customer_id))
    for number, envelope in enumerate(ordered, start=1):
        envelope.envelope_id = f"{batch_id}-{number:04d}"
        envelope.letters.sort(key=lambda letter: (CHANNEL_ORDER[letter.channel], letter.action_key))
    return ordered, unmailable


def lay_out(envelopes: list[Envelope], *, first_page: int = 1, fonts=None) -> list:  # noqa: ANN001
    """Lay out every letter (a WeasyPrint Document each), set the page counts and each envelope's
    first page in the batch (the first envelope's is `first_page`); returns the documents in batch
    order. `fonts`: a FontConfiguration shared by the batch (fonts are looked up once)."""
    documents: list = []
    page = first_page
    for envelope in envelopes:
        envelope.first_page = page
        for letter in envelope.letters:
            document = render_document(letter.message.html, font_config=fonts)
            letter.pages = len(document.pages)
            page += letter.pages
            documents.append(document)
    return documents


def chunks(envelopes: list[Envelope], letters: int) -> list[list[Envelope]]:
    """Whole envelopes, about `letters` letters per chunk (an envelope is never split)."""
    out: list[list[Envelope]] = [[]]
    count = 0
    for envelope in envelopes:
        if count >= letters:
            out.append([])
            count = 0
        out[-1].append(envelope)
        count += len(envelope.letters)
    return out


@contextlib.contextmanager
def _cycle_collector_paused():
    """Python's cycle collector off while a chunk is laid out and written, one collection after.

    WeasyPrint makes millions of small objects per chunk, and the chunk's documents stay alive
    until written: every full collection would scan all of them again, which made a chunk of
    200 letters ~35 % slower to lay out (55 -> 69 ms per letter over the chunk). Paused, the
    chunk holds ~1 MB more per letter until the collection that follows it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.collect()


def write_batch(directory: Path, envelopes: list[Envelope], *, title: str, chunk: int | None = None) -> int:
    """Lay out the envelopes' letters and write, into `directory`: batch.pdf, one PDF per envelope
    cut from it by page range, and manifest.csv; returns the pages.

    The pages of a chunk of letters go into ONE `write_pdf` (the fonts embedded and subset once
    for the chunk; a laid-out page holds ~1.5 MB until it is written, hence chunks); a batch of
    several chunks is their PDFs put end to end (pypdf, no second rendering)."""
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    parts: list[Path] = []
    page = 1
    for number, group in enumerate(chunks(envelopes, chunk or CHUNK_LETTERS)):
        parts.append(directory / f".chunk-{number}.pdf")
        with _cycle_collector_paused():
            documents = lay_out(group, first_page=page, fonts=fonts)
            pages = [p for document in documents for p in document.pages]
            combined = documents[0].copy(pages)
            combined.metadata = copy.copy(combined.metadata)    # the first letter's, under the batch's title
            combined.metadata.title = title
            combined.write_pdf(parts[-1])
            del documents, pages, combined
        reader = PdfReader(parts[-1])
        laid_out = sum(e.pages for e in group)
        if len(reader.pages) != laid_out:
            raise RuntimeError(f"{parts[-1].name} has {len(reader.pages)} pages, {laid_out} were laid out")
        for envelope in group:
            writer = PdfWriter()
            for index in range(envelope.first_page - page, envelope.last_page - page + 1):
                writer.add_page(reader.pages[index])
            writer.add_metadata({"/Title": envelope.envelope_id})
            writer.write(directory / envelope.file)
        page += laid_out
    if len(parts) == 1:
        os.replace(parts[0], directory / "batch.pdf")
    else:
        writer = PdfWriter()
        for part in parts:
            writer.append(part)
        writer.add_metadata({"/Title": title})
        writer.write(directory / "batch.pdf")
        for part in parts:
            part.unlink()
    with open(directory / "manifest.csv", "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(MANIFEST_COLUMNS)
        for e in envelopes:
            out.writerow([e.envelope_id, e.customer_id, e.name, " | ".join(e.address), e.country, e.mail_class,
                          "true" if e.registered else "false", e.pages, e.first_page, e.last_page,
                          " ".join(letter.action_key for letter in e.letters), e.file])
    return page - 1


def _publish(staging: Path, final: Path) -> None:
    """Move the finished batch folder into place (a rename: the folder appears whole or not at
    all); an orphan of a run that crashed before its commit, with the same batch id, is replaced."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)


def _committed(engine: Engine, batch_id: str) -> bool:
    """Whether the batch is recorded; True when that cannot be known (a commit that failed in
    flight may have landed: its folder is kept, and a next run with the same id replaces it)."""
    try:
        with engine.connect() as conn:
            return conn.execute(select(print_batches.c.batch_id)
                                .where(print_batches.c.batch_id == batch_id)).first() is not None
    except Exception:  # noqa: BLE001
        return True


def print_letters(engine: Engine, *, part: tuple[int, int], now: dt.datetime, as_of: dt.date, out_dir: Path,
                  creditor: Creditor, legal: LegalRules | None = None) -> dict:
    """Print the ready letters of this task's part into one batch; returns the counts and paths
    (XCom-sized): batch_id (None when nothing was printed), claimed, released (rows a crashed
    run left in 'sending'), letters, envelopes, registered (envelopes), pages, suppressed,
    batch_dir, pdf, manifest."""
    with engine.begin() as conn:
        stale = outbox.in_doubt(conn, DISPATCHER, part=part)
        released = outbox.release(conn, stale["action_key"], now=now) if not stale.empty else 0
        claimed = outbox.claim(conn, DISPATCHER, part=part, now=now)
    summary = {"batch_id": None, "claimed": len(claimed), "released": released, "letters": 0, "envelopes": 0,
               "registered": 0, "pages": 0, "suppressed": 0, "batch_dir": None, "pdf": None, "manifest": None}
    if claimed.empty:
        return summary
    with engine.connect() as conn:
        batch_id = next_batch_id(conn, as_of, part)
        envelopes, unmailable = envelopes_of(rendered(conn, claimed, creditor=creditor, legal=legal), batch_id)
    summary["suppressed"] = len(unmailable)
    if not envelopes:
        with engine.begin() as conn:
            outbox.suppress(conn, unmailable, now=now, source="sending")
        return summary

    root = Path(out_dir) / as_of.isoformat() / "print"
    root.mkdir(parents=True, exist_ok=True)
    final = root / batch_id
    staging = root / f".{batch_id}.partial"       # a leftover of a killed run is started again
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        pages = write_batch(staging, envelopes, title=f"{creditor.name} · {batch_id}")
        _publish(staging, final)
        sent = pd.DataFrame([{"action_key": letter.action_key, "provider": PROVIDER,
                              "provider_message_id": envelope.envelope_id, "recipient": envelope.recipient,
                              "units": letter.pages}
                             for envelope in envelopes for letter in envelope.letters])
        summary.update(batch_id=batch_id, letters=len(sent), envelopes=len(envelopes),
                       registered=sum(e.registered for e in envelopes), pages=pages, batch_dir=str(final),
                       pdf=str(final / "batch.pdf"), manifest=str(final / "manifest.csv"))
        with engine.begin() as conn:
            outbox.suppress(conn, unmailable, now=now, source="sending")
            conn.execute(insert(print_batches).values(
                batch_id=batch_id, as_of=as_of, letters=len(sent), pages=pages, registered=summary["registered"],
                pdf_path=summary["pdf"], manifest_path=summary["manifest"], created_at=now))
            moved = outbox.mark_sent(conn, sent, now=now)
            if moved != len(sent):
                raise RuntimeError(f"print batch {batch_id}: {len(sent) - moved} of {len(sent)} letters were no "
                                   "longer 'sending' (released meanwhile?): nothing recorded, the batch is dropped")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if not _committed(engine, batch_id):    # the print room takes committed batches only
            shutil.rmtree(final, ignore_errors=True)
        raise
    return summary
