-- features.features
SELECT
  "t6"."patient_id",
  "t6"."date",
  "t6"."test",
  "t6"."value",
  "t6"."reference_low",
  "t6"."result",
  (
    DATE_DIFF('DAY', MAKE_DATE(1970, 1, 1), "t6"."date") * 1099511627776
  ) + "t6"."seq" AS "k",
  DATE_DIFF('DAY', "t6"."date", "t6"."index_date") AS "ago"
FROM (
  SELECT
    "t5"."patient_id",
    "t5"."date",
    "t5"."test",
    "t5"."value",
    "t5"."unit",
    "t5"."result",
    "t5"."reference_low",
    "t5"."reference_high",
    "t5"."seq",
    "t3"."index_date",
    "t3"."window_from"
  FROM (
    SELECT
      *
    FROM "sleitp_parquet_2" AS "t0"
    WHERE
      (
        "t0"."test" IN (
          'c3',
          'c4',
          'hemoglobin',
          'lymphocytes',
          'megakaryocytes',
          'neutrophils',
          'platelets'
        )
        AND (
          (
            NOT "t0"."value" IS NULL
          )
          AND NOT (
            ISNAN("t0"."value")
          )
          AND CASE
            WHEN "t0"."test" = 'c3'
            THEN (
              "t0"."value" >= 0
            ) AND (
              "t0"."value" <= 10
            )
            WHEN "t0"."test" = 'c4'
            THEN (
              "t0"."value" >= 0
            ) AND (
              "t0"."value" <= 5
            )
            WHEN "t0"."test" = 'hemoglobin'
            THEN (
              "t0"."value" >= 10
            ) AND (
              "t0"."value" <= 260
            )
            WHEN "t0"."test" = 'lymphocytes'
            THEN (
              "t0"."value" >= 0
            ) AND (
              "t0"."value" <= 500
            )
            WHEN "t0"."test" = 'megakaryocytes'
            THEN (
              "t0"."value" >= 0
            ) AND (
              "t0"."value" <= 10000
            )
            WHEN "t0"."test" = 'neutrophils'
            THEN (
              "t0"."value" >= 0
            ) AND (
              "t0"."value" <= 500
            )
            WHEN "t0"."test" = 'platelets'
            THEN (
              "t0"."value" >= 0
            ) AND (
              "t0"."value" <= 2000
            )
            ELSE FALSE
          END
        )
      )
      OR (
        "t0"."test" IN (
          'anticardiolipin',
          'anti_b2gp1',
          'lupus_anticoagulant',
          'anti_tpo_receptor',
          'antiplatelet_antibody',
          'anti_sm',
          'anti_ssa'
        )
        AND "t0"."result" IN ('positive', 'negative')
      )
  ) AS "t5"
  INNER JOIN (
    SELECT
      "t1"."patient_id",
      "t1"."start" AS "index_date",
      CAST(CAST("t1"."start" - INTERVAL '90' DAY AS TIMESTAMP) AS DATE) AS "window_from"
    FROM "sleitp_step_38" AS "t1"
    WHERE
      "t1"."line" = 1
  ) AS "t3"
    ON "t5"."patient_id" = "t3"."patient_id"
) AS "t6"
WHERE
  "t6"."date" <= "t6"."index_date"
  AND (
    "t6"."test" IN (
      'anticardiolipin',
      'anti_b2gp1',
      'lupus_anticoagulant',
      'anti_tpo_receptor',
      'antiplatelet_antibody',
      'anti_sm',
      'anti_ssa'
    )
    OR (
      "t6"."date" >= "t6"."window_from"
    )
  );
