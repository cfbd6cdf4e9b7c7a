-- Odoo 16 / 17: posted journal items of one company up to an as-of date, in the ledger
-- query contract of receivables.ledger.sql_source (amounts NUMERIC in major units).
--
-- Parameters
--   :company_id   res_company.id of the company whose ledger is read
--   :as_of        the business date of the run; moves dated after it are left out
--
-- Which lines: ALL lines of every posted move that touches a receivable account
-- (account_account.account_type = 'asset_receivable'), so that each entry returned balances;
-- moves that never touch a receivable (vendor bills, bank fees, payroll...) are left out.
-- Invoice section and note lines (display_type line_section / line_note) carry no account and
-- no amount and are left out too. Zero-amount lines are kept.
--
-- Column choices
--   aux_account / aux_label  the partner's ref (else 'P' || partner id) and name, on receivable
--                            and payable lines only, as in a FEC; '' elsewhere. Matches
--                            customer_id in customers.sql. A ref shared by two partners merges
--                            them: keep refs unique in Odoo.
--   piece_ref                the move name for customer invoices and credit notes
--                            (out_invoice, out_refund), else the move's ref, else its name.
--   let_code / let_date      the full reconcile of the line, shown only when the group was
--                            complete on the as-of date: let_date is the latest date of the lines
--                            in the full reconcile (not when a clerk clicked "reconcile"). A
--                            partial reconcile leaves the line unlettered. let_code is the full
--                            reconcile's name on Odoo 16 (account_full_reconcile.name) and its id
--                            on 17, which has no name column there.
--   due_date                 date_maturity as Odoo stores it (set on receivable/payable lines).
--   currency_amount / _code  amount_currency and its currency, only when the line's currency
--                            differs from the company currency.
--   currency                 the company currency (the book currency of debit and credit).
--   journal_lib, account_label  the en_US value of translated names (jsonb since Odoo 16 for
--                            journals, 17 for accounts); a plain varchar name is used as is.
--
-- Limits
--   Odoo 16 and 17 only. Odoo <= 15 has no account_type (user_type_id / internal_type instead);
--   Odoo 18 moves account_account.code to a per-company jsonb (code_store).
--   PostgreSQL only where marked "PostgreSQL:" (to_jsonb and the jsonb operators read columns
--   that exist in one Odoo version and not the other without failing on the other).
--   Multi-company reconciliations are read per company, like everything else here.

WITH reconcile_completion AS (
    -- the date each full reconcile became complete: the latest date among its lines
    SELECT r.full_reconcile_id, MAX(r.date) AS completed_on
    FROM account_move_line r
    WHERE r.full_reconcile_id IS NOT NULL
      AND r.company_id = :company_id
    GROUP BY r.full_reconcile_id
)
SELECT
    aj.code                                                         AS journal_code,
    -- PostgreSQL: a jsonb translation's en_US value, or the plain text of a varchar name
    COALESCE(to_jsonb(aj.name) ->> 'en_US', to_jsonb(aj.name) #>> '{}') AS journal_lib,
    am.name                                                         AS entry_num,
    aml.date                                                        AS entry_date,
    aa.code                                                         AS account,
    -- PostgreSQL: as journal_lib
    COALESCE(to_jsonb(aa.name) ->> 'en_US', to_jsonb(aa.name) #>> '{}') AS account_label,
    CASE WHEN aa.account_type IN ('asset_receivable', 'liability_payable') AND rp.id IS NOT NULL
         THEN COALESCE(NULLIF(rp.ref, ''), 'P' || CAST(rp.id AS VARCHAR))
         ELSE '' END                                                AS aux_account,
    CASE WHEN aa.account_type IN ('asset_receivable', 'liability_payable')
         THEN COALESCE(rp.name, '')
         ELSE '' END                                                AS aux_label,
    CASE WHEN am.move_type IN ('out_invoice', 'out_refund') THEN am.name
         ELSE COALESCE(NULLIF(am.ref, ''), am.name) END             AS piece_ref,
    COALESCE(am.invoice_date, am.date)                              AS piece_date,
    COALESCE(aml.name, '')                                          AS label,
    aml.debit                                                       AS debit,
    aml.credit                                                      AS credit,
    CASE WHEN rc.completed_on <= CAST(:as_of AS DATE)
         -- PostgreSQL: account_full_reconcile.name exists on Odoo 16 only
         THEN COALESCE(to_jsonb(afr) ->> 'name', CAST(aml.full_reconcile_id AS VARCHAR))
         ELSE '' END                                                AS let_code,
    CASE WHEN rc.completed_on <= CAST(:as_of AS DATE)
         THEN rc.completed_on END                                   AS let_date,
    am.date                                                         AS valid_date,
    CASE WHEN aml.currency_id <> aml.company_currency_id
         THEN aml.amount_currency END                               AS currency_amount,
    CASE WHEN aml.currency_id <> aml.company_currency_id
         THEN fx.name ELSE '' END                                   AS currency_code,
    aml.date_maturity                                               AS due_date,
    book.name                                                       AS currency
FROM account_move_line aml
JOIN account_move am              ON am.id = aml.move_id
-- outer joins: a line whose account, journal or partner is missing must reach the reader,
-- which quarantines it, rather than vanish from the ledger
LEFT JOIN account_journal aj      ON aj.id = am.journal_id
LEFT JOIN account_account aa      ON aa.id = aml.account_id
LEFT JOIN res_partner rp          ON rp.id = aml.partner_id
LEFT JOIN res_currency book       ON book.id = aml.company_currency_id
LEFT JOIN res_currency fx         ON fx.id = aml.currency_id
LEFT JOIN account_full_reconcile afr ON afr.id = aml.full_reconcile_id
LEFT JOIN reconcile_completion rc ON rc.full_reconcile_id = aml.full_reconcile_id
WHERE am.state = 'posted'
  AND am.company_id = :company_id
  AND am.date <= CAST(:as_of AS DATE)
  AND COALESCE(aml.display_type, '') NOT IN ('line_section', 'line_note')
  AND EXISTS (
      SELECT 1
      FROM account_move_line r
      JOIN account_account ra ON ra.id = r.account_id
      WHERE r.move_id = am.id
        AND ra.account_type = 'asset_receivable'
  )
-- deterministic: line_no is the row position
ORDER BY am.date, aj.code, am.name, am.id, aml.id
