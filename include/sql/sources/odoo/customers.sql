-- Odoo 16 / 17: the customer master of one company, in the customer query contract of
-- receivables.ledger.sql_source (columns of schema.CUSTOMER_COLUMNS; missing ones stay empty).
--
-- Parameters
--   :company_id   res_company.id of the company
--
-- Which partners: those that appear on a receivable line (account_type 'asset_receivable') of
-- a posted move of the company, whatever its date. On receivable lines Odoo puts the
-- commercial partner (the company, not the contact), so these are commercial partners.
--
-- Column choices
--   customer_id          the partner's ref, else 'P' || partner id: the aux_account of
--                        ledger_lines.sql.
--   language             the first two letters of res_partner.lang (fr_FR -> fr).
--   phone                phone, else mobile.
--   address              street, street2 and "zip city", comma-separated.
--   payment_terms_days   from the partner's payment term property (ir_property
--                        property_payment_term_id: for this company, else company-less, else the
--                        company default), when every line of the term is a plain "N days after
--                        the invoice date" (17: delay_type days_after; 16: no months, no end of
--                        month): the largest N, i.e. the last instalment. End-of-month and
--                        month-based terms give NULL, which means "use the configured default";
--                        the due dates of Odoo invoices (date_maturity) stay authoritative.
--   segment, strategic, opt_out_channels are not in Odoo: left empty (unknown / false).
--
-- Limits
--   Odoo 16 and 17 only (Odoo 18 drops ir_property and res_partner.mobile).
--   The email, phone and address are the commercial partner's, not those of a child contact
--   of type "invoice".
--   PostgreSQL only where marked "PostgreSQL:".

WITH customer_partners AS (
    SELECT DISTINCT aml.partner_id
    FROM account_move_line aml
    JOIN account_move am    ON am.id = aml.move_id
    JOIN account_account aa ON aa.id = aml.account_id
    WHERE am.state = 'posted'
      AND am.company_id = :company_id
      AND aa.account_type = 'asset_receivable'
      AND aml.partner_id IS NOT NULL
),
ranked_terms AS (
    -- candidate payment-term properties of each customer, best first: the partner's own for
    -- this company, its own without company, the company default, the global default
    SELECT cp.partner_id,
           ip.value_reference,
           ROW_NUMBER() OVER (
               PARTITION BY cp.partner_id
               ORDER BY CASE WHEN ip.res_id IS NULL THEN 1 ELSE 0 END,
                        CASE WHEN ip.company_id IS NULL THEN 1 ELSE 0 END,
                        ip.id
           ) AS preference
    FROM customer_partners cp
    JOIN ir_property ip
      ON ip.name = 'property_payment_term_id'
     AND (ip.res_id = 'res.partner,' || CAST(cp.partner_id AS VARCHAR) OR ip.res_id IS NULL)
     AND (ip.company_id = :company_id OR ip.company_id IS NULL)
     AND ip.value_reference IS NOT NULL
),
term_days AS (
    SELECT ptl.payment_id,
           CASE WHEN MIN(CASE WHEN
                    -- PostgreSQL: to_jsonb(row) reads the columns of either version
                    -- (17: delay_type, nb_days; 16: months, end_month, days) without
                    -- failing on the version that lacks them
                    COALESCE(to_jsonb(ptl) ->> 'delay_type', 'days_after') = 'days_after'
                    AND COALESCE(to_jsonb(ptl) ->> 'months', '0') = '0'
                    AND COALESCE(to_jsonb(ptl) ->> 'end_month', 'false') = 'false'
                    THEN 1 ELSE 0 END) = 1
                THEN MAX(CAST(COALESCE(to_jsonb(ptl) ->> 'nb_days', to_jsonb(ptl) ->> 'days') AS INTEGER))
           END AS days
    FROM account_payment_term_line ptl
    GROUP BY ptl.payment_id
)
SELECT
    COALESCE(NULLIF(rp.ref, ''), 'P' || CAST(rp.id AS VARCHAR))    AS customer_id,
    COALESCE(rp.name, '')                                           AS name,
    COALESCE(rc.code, '')                                           AS country,
    COALESCE(SUBSTRING(rp.lang FROM 1 FOR 2), '')                   AS language,
    COALESCE(rp.email, '')                                          AS email,
    COALESCE(NULLIF(rp.phone, ''), rp.mobile, '')                   AS phone,
    -- PostgreSQL (also MySQL): concat_ws skips NULLs
    concat_ws(', ', NULLIF(rp.street, ''), NULLIF(rp.street2, ''),
              NULLIF(TRIM(concat_ws(' ', rp.zip, rp.city)), ''))    AS address,
    td.days                                                         AS payment_terms_days
FROM customer_partners cp
JOIN res_partner rp          ON rp.id = cp.partner_id
LEFT JOIN res_country rc     ON rc.id = rp.country_id
LEFT JOIN ranked_terms rt    ON rt.partner_id = cp.partner_id AND rt.preference = 1
LEFT JOIN account_payment_term apt
       ON rt.value_reference = 'account.payment.term,' || CAST(apt.id AS VARCHAR)
LEFT JOIN term_days td       ON td.payment_id = apt.id
ORDER BY customer_id, rp.id
