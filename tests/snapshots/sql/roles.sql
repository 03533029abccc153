-- roles.course_roles
SELECT
  "t6"."patient_id",
  "t6"."k",
  "t6"."agent",
  "t6"."start",
  "t6"."end",
  "t6"."frequency",
  "t6"."dose_unit",
  "t6"."indication",
  "t6"."at",
  "t6"."onset",
  "t6"."diagnosed",
  "t6"."amount",
  "t6"."single"
FROM (
  SELECT
    "t5"."patient_id",
    "t5"."agent",
    "t5"."start",
    "t5"."end",
    "t5"."dose",
    "t5"."dose_unit",
    "t5"."frequency",
    "t5"."route",
    "t5"."indication",
    "t5"."seq",
    "t5"."at",
    "t5"."weight_kg",
    "t5"."onset",
    "t5"."diagnosed",
    ROW_NUMBER() OVER (
      PARTITION BY "t5"."patient_id"
      ORDER BY "t5"."start" ASC, "t5"."agent" ASC, "t5"."seq" ASC
      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
    ) - 1 AS "k",
    CASE
      WHEN "t5"."agent" IN (
        'prednisone',
        'prednisolone',
        'methylprednisolone',
        'dexamethasone',
        'hydrocortisone'
      )
      THEN CASE
        WHEN "t5"."dose_unit" = 'mg'
        THEN "t5"."dose"
        WHEN "t5"."dose_unit" = 'mg/kg'
        THEN "t5"."dose" * 1.0 * "t5"."weight_kg"
        WHEN "t5"."dose_unit" = 'g/kg'
        THEN "t5"."dose" * 1000.0 * "t5"."weight_kg"
        WHEN "t5"."dose_unit" = 'ug/kg'
        THEN "t5"."dose" * 0.001 * "t5"."weight_kg"
        ELSE CAST(NULL AS DOUBLE)
      END * CASE
        WHEN "t5"."agent" = 'dexamethasone'
        THEN 6.666666666666667
        WHEN "t5"."agent" = 'prednisone'
        THEN 1.0
        WHEN "t5"."agent" = 'prednisolone'
        THEN 1.0
        WHEN "t5"."agent" = 'methylprednisolone'
        THEN 1.25
        WHEN "t5"."agent" = 'hydrocortisone'
        THEN 0.25
        ELSE CAST(NULL AS DOUBLE)
      END * CASE
        WHEN LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) = ''
        THEN 1.0
        WHEN LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) = 'daily'
        THEN 1.0
        WHEN LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) = 'qd'
        THEN 1.0
        WHEN LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) = 'od'
        THEN 1.0
        WHEN LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) = 'once daily'
        THEN 1.0
        WHEN LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) = 'once a day'
        THEN 1.0
        WHEN LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) = 'bid'
        THEN 2.0
        WHEN LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) = 'twice daily'
        THEN 2.0
        WHEN LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) = 'tid'
        THEN 3.0
        WHEN LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) = 'qid'
        THEN 4.0
        WHEN LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) IN ('once a week', 'once weekly', 'qw', 'qwk', 'weekly')
        THEN 0.14285714285714285
        WHEN LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) IN ('once', 'single', 'single dose', 'stat')
        THEN 1.0
        ELSE CAST(NULL AS DOUBLE)
      END
      ELSE "t5"."dose" * CASE
        WHEN LOWER(
          TRIM(
            CASE
              WHEN (
                "t5"."frequency" IS NULL
              ) OR (
                "t5"."frequency" = ''
              )
              THEN 'daily'
              ELSE "t5"."frequency"
            END,
            ' 	
'
          )
        ) = 'daily'
        THEN 1.0
        WHEN LOWER(
          TRIM(
            CASE
              WHEN (
                "t5"."frequency" IS NULL
              ) OR (
                "t5"."frequency" = ''
              )
              THEN 'daily'
              ELSE "t5"."frequency"
            END,
            ' 	
'
          )
        ) = 'qd'
        THEN 1.0
        WHEN LOWER(
          TRIM(
            CASE
              WHEN (
                "t5"."frequency" IS NULL
              ) OR (
                "t5"."frequency" = ''
              )
              THEN 'daily'
              ELSE "t5"."frequency"
            END,
            ' 	
'
          )
        ) = 'od'
        THEN 1.0
        WHEN LOWER(
          TRIM(
            CASE
              WHEN (
                "t5"."frequency" IS NULL
              ) OR (
                "t5"."frequency" = ''
              )
              THEN 'daily'
              ELSE "t5"."frequency"
            END,
            ' 	
'
          )
        ) = 'bid'
        THEN 2.0
        WHEN LOWER(
          TRIM(
            CASE
              WHEN (
                "t5"."frequency" IS NULL
              ) OR (
                "t5"."frequency" = ''
              )
              THEN 'daily'
              ELSE "t5"."frequency"
            END,
            ' 	
'
          )
        ) = 'tid'
        THEN 3.0
        WHEN LOWER(
          TRIM(
            CASE
              WHEN (
                "t5"."frequency" IS NULL
              ) OR (
                "t5"."frequency" = ''
              )
              THEN 'daily'
              ELSE "t5"."frequency"
            END,
            ' 	
'
          )
        ) = 'qid'
        THEN 4.0
        WHEN LOWER(
          TRIM(
            CASE
              WHEN (
                "t5"."frequency" IS NULL
              ) OR (
                "t5"."frequency" = ''
              )
              THEN 'daily'
              ELSE "t5"."frequency"
            END,
            ' 	
'
          )
        ) = 'weekly'
        THEN 0.14285714285714285
        ELSE CAST(NULL AS DOUBLE)
      END
    END AS "amount",
    LOWER(TRIM(COALESCE("t5"."frequency", ''), ' 	
')) IN ('once', 'single', 'single dose', 'stat')
    OR (
      "t5"."agent" = 'splenectomy'
    ) AS "single"
  FROM (
    SELECT
      *
    FROM (
      SELECT
        "t2"."patient_id",
        "t2"."agent",
        "t2"."start",
        "t2"."end",
        "t2"."dose",
        "t2"."dose_unit",
        "t2"."frequency",
        "t2"."route",
        "t2"."indication",
        "t2"."seq",
        "t3"."at",
        "t3"."weight_kg",
        "t3"."onset",
        "t3"."diagnosed"
      FROM "sleitp_step_8" AS "t2"
      INNER JOIN "sleitp_step_13" AS "t3"
        ON "t2"."patient_id" = "t3"."patient_id"
    ) AS "t4"
    WHERE
      "t4"."start" <= "t4"."at"
  ) AS "t5"
) AS "t6";

-- roles.course_roles
SELECT
  "t12".*
  EXCLUDE ("normal")
FROM (
  SELECT
    "t11"."patient_id",
    "t11"."k",
    "t11"."agent",
    "t11"."start",
    "t11"."end",
    "t11"."frequency",
    "t11"."dose_unit",
    "t11"."indication",
    "t11"."at",
    "t11"."onset",
    "t11"."diagnosed",
    "t11"."amount",
    "t11"."single",
    "t11"."normal",
    CASE
      WHEN "t11"."agent" IN (
        'aspirin',
        'clopidogrel',
        'doac',
        'heparin',
        'lmwh',
        'platelet_transfusion',
        'tranexamic_acid',
        'warfarin'
      )
      THEN 'not_itp_treatment'
      WHEN "t11"."agent" IN ('oseltamivir')
      THEN 'with_dexamethasone'
      WHEN "t11"."indication" = 'sle'
      THEN 'background'
      WHEN "t11"."indication" = 'other'
      THEN 'not_itp_treatment'
      WHEN "t11"."indication" = 'itp'
      THEN 'itp_line'
      WHEN "t11"."agent" IN ('hydroxychloroquine', 'platelet_transfusion')
      THEN 'background'
      WHEN NOT (
        "t11"."agent" IN (
          'anifrolumab',
          'azathioprine',
          'belimumab',
          'bortezomib',
          'cd19_car_t',
          'cyclophosphamide',
          'cyclosporine',
          'daratumumab',
          'dexamethasone',
          'hydrocortisone',
          'hydroxychloroquine',
          'methylprednisolone',
          'mycophenolate',
          'obinutuzumab',
          'prednisolone',
          'prednisone',
          'rituximab',
          'sirolimus',
          'tacrolimus',
          'telitacicept',
          'voclosporin'
        )
      )
      THEN 'itp_line'
      WHEN "t11"."onset" IS NULL
      THEN 'itp_line'
      WHEN (
        "t11"."start" < "t11"."onset"
      )
      AND (
        "t11"."diagnosed" OR COALESCE("t11"."normal", FALSE)
      )
      THEN 'background'
      ELSE CAST(NULL AS TEXT)
    END AS "role"
  FROM (
    SELECT
      "t10".*
      EXCLUDE ("k_right", "patient_id_right")
    FROM (
      SELECT
        "t2"."patient_id",
        "t2"."k",
        "t2"."agent",
        "t2"."start",
        "t2"."end",
        "t2"."frequency",
        "t2"."dose_unit",
        "t2"."indication",
        "t2"."at",
        "t2"."onset",
        "t2"."diagnosed",
        "t2"."amount",
        "t2"."single",
        "t9"."patient_id" AS "patient_id_right",
        "t9"."k" AS "k_right",
        "t9"."normal"
      FROM "sleitp_step_14" AS "t2"
      LEFT OUTER JOIN (
        SELECT DISTINCT
          "t7"."patient_id",
          "t7"."k",
          TRUE AS "normal"
        FROM (
          SELECT
            "t5"."patient_id",
            "t5"."k",
            "t5"."agent",
            "t5"."start",
            "t5"."end",
            "t5"."frequency",
            "t5"."dose_unit",
            "t5"."indication",
            "t5"."at",
            "t5"."onset",
            "t5"."diagnosed",
            "t5"."amount",
            "t5"."single",
            "t6"."date",
            "t6"."platelets"
          FROM (
            SELECT
              *
            FROM "sleitp_step_14" AS "t0"
            WHERE
              "t0"."agent" IN (
                'anifrolumab',
                'azathioprine',
                'belimumab',
                'bortezomib',
                'cd19_car_t',
                'cyclophosphamide',
                'cyclosporine',
                'daratumumab',
                'dexamethasone',
                'hydrocortisone',
                'hydroxychloroquine',
                'methylprednisolone',
                'mycophenolate',
                'obinutuzumab',
                'prednisolone',
                'prednisone',
                'rituximab',
                'sirolimus',
                'tacrolimus',
                'telitacicept',
                'voclosporin'
              )
              AND "t0"."indication" IS NULL
              AND "t0"."start" < "t0"."onset"
              AND NOT (
                "t0"."diagnosed"
              )
          ) AS "t5"
          INNER JOIN (
            SELECT
              "t1"."patient_id",
              "t1"."date",
              "t1"."platelets"
            FROM "sleitp_step_12" AS "t1"
            WHERE
              NOT "t1"."platelets" IS NULL
          ) AS "t6"
            ON "t5"."patient_id" = "t6"."patient_id"
        ) AS "t7"
        WHERE
          "t7"."date" >= CAST(CAST("t7"."start" - INTERVAL '30' DAY AS TIMESTAMP) AS DATE)
          AND "t7"."date" < "t7"."onset"
      ) AS "t9"
        ON "t2"."patient_id" = "t9"."patient_id" AND "t2"."k" = "t9"."k"
    ) AS "t10"
  ) AS "t11"
) AS "t12";

-- roles.course_roles
SELECT
  "t11"."patient_id",
  "t11"."k",
  "t11"."agent",
  "t11"."start",
  "t11"."dose_unit",
  "t11"."amount",
  (
    NOT "t11"."base" IS NULL
  ) AND (
    "t11"."base" >= 100.0
  ) AS "normal_start"
FROM (
  SELECT
    "t10".*
    EXCLUDE ("k_right", "patient_id_right")
  FROM (
    SELECT
      "t4"."patient_id",
      "t4"."k",
      "t4"."agent",
      "t4"."start",
      "t4"."end",
      "t4"."frequency",
      "t4"."dose_unit",
      "t4"."indication",
      "t4"."at",
      "t4"."onset",
      "t4"."diagnosed",
      "t4"."amount",
      "t4"."single",
      "t4"."role",
      "t9"."patient_id" AS "patient_id_right",
      "t9"."k" AS "k_right",
      "t9"."base"
    FROM (
      SELECT
        *
      FROM "sleitp_step_15" AS "t0"
      WHERE
        "t0"."role" IS NULL
    ) AS "t4"
    LEFT OUTER JOIN (
      SELECT
        "t7"."patient_id",
        "t7"."k",
        ARG_MAX_NULL("t7"."platelets", "t7"."date") AS "base"
      FROM (
        SELECT
          *
        FROM (
          SELECT
            "t4"."patient_id",
            "t4"."k",
            "t4"."agent",
            "t4"."start",
            "t4"."end",
            "t4"."frequency",
            "t4"."dose_unit",
            "t4"."indication",
            "t4"."at",
            "t4"."onset",
            "t4"."diagnosed",
            "t4"."amount",
            "t4"."single",
            "t4"."role",
            "t5"."date",
            "t5"."platelets"
          FROM (
            SELECT
              *
            FROM "sleitp_step_15" AS "t0"
            WHERE
              "t0"."role" IS NULL
          ) AS "t4"
          INNER JOIN (
            SELECT
              "t1"."patient_id",
              "t1"."date",
              "t1"."platelets"
            FROM "sleitp_step_12" AS "t1"
            WHERE
              NOT "t1"."platelets" IS NULL
          ) AS "t5"
            ON "t4"."patient_id" = "t5"."patient_id"
        ) AS "t6"
        WHERE
          "t6"."date" >= CAST(CAST("t6"."start" - INTERVAL '30' DAY AS TIMESTAMP) AS DATE)
          AND "t6"."date" <= "t6"."start"
      ) AS "t7"
      GROUP BY
        1,
        2
    ) AS "t9"
      ON "t4"."patient_id" = "t9"."patient_id" AND "t4"."k" = "t9"."k"
  ) AS "t10"
) AS "t11";

-- roles.course_roles
SELECT
  "t5"."patient_id",
  "t5"."k",
  "t5"."ek",
  CASE
    WHEN "t5"."e_single"
    THEN "t5"."e_start" = "t5"."start"
    ELSE (
      "t5"."e_end" IS NULL
    ) OR (
      "t5"."start" <= "t5"."e_end"
    )
  END AS "given",
  (
    "t5"."e_agent" = "t5"."agent"
  )
  AND (
    (
      "t5"."e_end" IS NULL
    )
    OR (
      "t5"."start" <= CAST(CAST("t5"."e_end" + INTERVAL '1' DAY AS TIMESTAMP) AS DATE)
    )
  ) AS "continues",
  "t5"."e_amount",
  "t5"."e_unit"
FROM (
  SELECT
    "t2"."patient_id",
    "t2"."k",
    "t2"."agent",
    "t2"."start",
    "t2"."dose_unit",
    "t2"."amount",
    "t2"."normal_start",
    "t4"."patient_id" AS "patient_id_right",
    "t4"."ek",
    "t4"."e_agent",
    "t4"."e_start",
    "t4"."e_end",
    "t4"."e_single",
    "t4"."e_amount",
    "t4"."e_unit"
  FROM "sleitp_step_16" AS "t2"
  INNER JOIN (
    SELECT
      "t1"."patient_id",
      "t1"."k" AS "ek",
      "t1"."agent" AS "e_agent",
      "t1"."start" AS "e_start",
      "t1"."end" AS "e_end",
      "t1"."single" AS "e_single",
      "t1"."amount" AS "e_amount",
      "t1"."dose_unit" AS "e_unit"
    FROM "sleitp_step_15" AS "t1"
  ) AS "t4"
    ON "t2"."patient_id" = "t4"."patient_id" AND "t4"."ek" < "t2"."k"
) AS "t5"
WHERE
  (
    "t5"."normal_start"
    AND CASE
      WHEN "t5"."e_single"
      THEN "t5"."e_start" = "t5"."start"
      ELSE (
        "t5"."e_end" IS NULL
      ) OR (
        "t5"."start" <= "t5"."e_end"
      )
    END
  )
  OR (
    (
      "t5"."e_agent" = "t5"."agent"
    )
    AND (
      (
        "t5"."e_end" IS NULL
      )
      OR (
        "t5"."start" <= CAST(CAST("t5"."e_end" + INTERVAL '1' DAY AS TIMESTAMP) AS DATE)
      )
    )
  );

-- roles.course_roles
SELECT
  "t10"."patient_id",
  "t10"."k",
  CASE
    WHEN "t10"."normal_start" AND NOT (
      COALESCE("t10"."on_itp", FALSE)
    )
    THEN 'background'
    WHEN (
      NOT "t10"."prior_k" IS NULL
    )
    AND NOT (
      NOT (
        NOT (
          "t10"."dose_unit" IS NOT DISTINCT FROM "t10"."prior_unit"
        )
        AND NOT (
          "t10"."agent" IN (
            'prednisone',
            'prednisolone',
            'methylprednisolone',
            'dexamethasone',
            'hydrocortisone'
          )
        )
      )
      AND (
        (
          NOT "t10"."amount" IS NULL
        ) AND (
          NOT "t10"."prior_amount" IS NULL
        )
      )
      AND (
        "t10"."amount" > "t10"."prior_amount"
      )
    )
    THEN 'background'
    ELSE 'itp_line'
  END AS "new_role"
FROM (
  SELECT
    "t3"."patient_id",
    "t3"."k",
    "t3"."agent",
    "t3"."start",
    "t3"."dose_unit",
    "t3"."amount",
    "t3"."normal_start",
    "t9"."patient_id" AS "patient_id_right",
    "t9"."k" AS "k_right",
    "t9"."undecided",
    "t9"."on_itp",
    "t9"."prior_k",
    "t9"."prior_amount",
    "t9"."prior_unit"
  FROM "sleitp_step_16" AS "t3"
  LEFT OUTER JOIN (
    SELECT
      "t7"."patient_id",
      "t7"."k",
      SUM(CAST("t7"."e_role" IS NULL AS BIGINT)) AS "undecided",
      BOOL_OR(CAST("t7"."given" AND (
        "t7"."e_role" = 'itp_line'
      ) AS BOOLEAN)) AS "on_itp",
      MAX("t7"."ek") FILTER(WHERE
        "t7"."continues" AND (
          "t7"."e_role" = 'background'
        )) AS "prior_k",
      ARG_MAX_NULL("t7"."e_amount", "t7"."ek") FILTER(WHERE
        "t7"."continues" AND (
          "t7"."e_role" = 'background'
        )) AS "prior_amount",
      ARG_MAX_NULL("t7"."e_unit", "t7"."ek") FILTER(WHERE
        "t7"."continues" AND (
          "t7"."e_role" = 'background'
        )) AS "prior_unit"
    FROM (
      SELECT
        "t4"."patient_id",
        "t4"."k",
        "t4"."ek",
        "t4"."given",
        "t4"."continues",
        "t4"."e_amount",
        "t4"."e_unit",
        "t6"."e_role"
      FROM "sleitp_step_17" AS "t4"
      INNER JOIN (
        SELECT
          "t2"."patient_id",
          "t2"."k" AS "ek",
          "t2"."role" AS "e_role"
        FROM "sleitp_step_15" AS "t2"
      ) AS "t6"
        ON "t4"."patient_id" = "t6"."patient_id" AND "t4"."ek" = "t6"."ek"
    ) AS "t7"
    GROUP BY
      1,
      2
  ) AS "t9"
    ON "t3"."patient_id" = "t9"."patient_id" AND "t3"."k" = "t9"."k"
) AS "t10"
WHERE
  COALESCE("t10"."undecided", 0) = 0;

-- roles.course_roles
SELECT
  "t4"."patient_id",
  "t4"."k",
  COALESCE("t4"."role", "t2"."new_role") AS "role"
FROM (
  SELECT
    "t0"."patient_id",
    "t0"."k",
    "t0"."role"
  FROM "sleitp_step_15" AS "t0"
) AS "t4"
LEFT OUTER JOIN "sleitp_step_18" AS "t2"
  ON "t4"."patient_id" = "t2"."patient_id" AND "t4"."k" = "t2"."k";

-- roles.course_roles
SELECT
  "t2"."patient_id",
  "t2"."k",
  "t2"."agent",
  "t2"."start",
  "t2"."dose_unit",
  "t2"."amount",
  "t2"."normal_start"
FROM "sleitp_step_16" AS "t2"
ANTI JOIN "sleitp_step_18" AS "t3"
  ON "t2"."patient_id" = "t3"."patient_id" AND "t2"."k" = "t3"."k";

-- roles.course_roles
SELECT
  "t4"."patient_id",
  "t4"."k",
  "t4"."agent",
  "t4"."start",
  "t4"."end",
  "t4"."frequency",
  "t4"."at",
  "t2"."role"
FROM (
  SELECT
    "t0"."patient_id",
    "t0"."k",
    "t0"."agent",
    "t0"."start",
    "t0"."end",
    "t0"."frequency",
    "t0"."at"
  FROM "sleitp_step_15" AS "t0"
) AS "t4"
INNER JOIN "sleitp_step_19" AS "t2"
  ON "t4"."patient_id" = "t2"."patient_id" AND "t4"."k" = "t2"."k";
