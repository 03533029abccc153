-- lines.treatment_lines
SELECT
  "t3"."patient_id",
  "t3"."at",
  "t5"."weight_kg",
  COALESCE("t5"."itp_diagnosis_date", "t14"."first_low") AS "onset",
  NOT "t5"."itp_diagnosis_date" IS NULL AS "diagnosed"
FROM "sleitp_step_11" AS "t3"
INNER JOIN (
  SELECT
    "t1"."patient_id",
    "t1"."itp_diagnosis_date",
    "t1"."weight_kg"
  FROM "sleitp_step_6" AS "t1"
) AS "t5"
  ON "t3"."patient_id" = "t5"."patient_id"
LEFT OUTER JOIN (
  SELECT
    "t12"."patient_id",
    MIN("t12"."date") AS "first_low"
  FROM (
    SELECT
      *
    FROM (
      SELECT
        "t7"."patient_id",
        "t7"."date",
        "t7"."platelets",
        "t10"."at"
      FROM (
        SELECT
          "t2"."patient_id",
          "t2"."date",
          "t2"."platelets"
        FROM "sleitp_step_12" AS "t2"
        WHERE
          NOT "t2"."platelets" IS NULL
      ) AS "t7"
      INNER JOIN (
        SELECT
          "t8"."patient_id",
          "t8"."at"
        FROM (
          SELECT
            "t3"."patient_id",
            "t3"."at",
            "t5"."itp_diagnosis_date",
            "t5"."weight_kg"
          FROM "sleitp_step_11" AS "t3"
          INNER JOIN (
            SELECT
              "t1"."patient_id",
              "t1"."itp_diagnosis_date",
              "t1"."weight_kg"
            FROM "sleitp_step_6" AS "t1"
          ) AS "t5"
            ON "t3"."patient_id" = "t5"."patient_id"
        ) AS "t8"
        WHERE
          "t8"."itp_diagnosis_date" IS NULL
      ) AS "t10"
        ON "t7"."patient_id" = "t10"."patient_id"
    ) AS "t11"
    WHERE
      "t11"."platelets" < 100.0 AND "t11"."date" <= "t11"."at"
  ) AS "t12"
  GROUP BY
    1
) AS "t14"
  ON "t3"."patient_id" = "t14"."patient_id";

-- lines.line_forming_courses
SELECT DISTINCT
  *
FROM (
  SELECT
    "t3"."patient_id",
    "t3"."k"
  FROM (
    SELECT
      "t1".*
      EXCLUDE ("role")
    FROM (
      SELECT
        *
      FROM "sleitp_step_21" AS "t0"
      WHERE
        "t0"."role" = 'itp_line'
    ) AS "t1"
  ) AS "t3"
  INNER JOIN (
    SELECT
      "t2"."patient_id",
      "t2"."k" AS "ek",
      "t2"."agent" AS "e_agent",
      "t2"."end" AS "e_end"
    FROM (
      SELECT
        "t1".*
        EXCLUDE ("role")
      FROM (
        SELECT
          *
        FROM "sleitp_step_21" AS "t0"
        WHERE
          "t0"."role" = 'itp_line'
      ) AS "t1"
    ) AS "t2"
  ) AS "t5"
    ON "t3"."patient_id" = "t5"."patient_id"
    AND "t3"."agent" = "t5"."e_agent"
    AND "t5"."ek" < "t3"."k"
    AND (
      (
        "t5"."e_end" IS NULL
      )
      OR (
        "t3"."start" <= CAST(CAST("t5"."e_end" + INTERVAL '1' DAY AS TIMESTAMP) AS DATE)
      )
    )
) AS "t6";

-- lines.line_forming_courses
SELECT
  "t5"."patient_id",
  "t5"."k",
  "t5"."agent",
  "t5"."start",
  "t5"."end",
  "t5"."frequency",
  "t5"."at"
FROM (
  SELECT
    "t3".*
    EXCLUDE ("role")
  FROM (
    SELECT
      *
    FROM "sleitp_step_21" AS "t1"
    WHERE
      "t1"."role" = 'itp_line'
  ) AS "t3"
) AS "t5"
ANTI JOIN "sleitp_step_22" AS "t2"
  ON "t5"."patient_id" = "t2"."patient_id" AND "t5"."k" = "t2"."k";

-- lines.line_forming_courses
SELECT
  "t5"."patient_id",
  "t5"."k",
  "t5"."agent",
  "t5"."start",
  "t5"."end",
  "t5"."frequency",
  "t5"."at"
FROM (
  SELECT
    "t3".*
    EXCLUDE ("role")
  FROM (
    SELECT
      *
    FROM "sleitp_step_21" AS "t1"
    WHERE
      "t1"."role" = 'itp_line'
  ) AS "t3"
) AS "t5"
SEMI JOIN "sleitp_step_22" AS "t2"
  ON "t5"."patient_id" = "t2"."patient_id" AND "t5"."k" = "t2"."k";

-- lines._line_starts
SELECT
  "t3"."patient_id",
  "t3"."start",
  SUM("t3"."opens") OVER (
    PARTITION BY "t3"."patient_id"
    ORDER BY "t3"."start" ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
  ) AS "island"
FROM (
  SELECT
    "t2"."patient_id",
    "t2"."start",
    "t2"."prev",
    CAST((
      "t2"."prev" IS NULL
    )
    OR (
      "t2"."start" > (
        "t2"."prev" + INTERVAL '7' DAY
      )
    ) AS BIGINT) AS "opens"
  FROM (
    SELECT
      "t1"."patient_id",
      "t1"."start",
      LAG("t1"."start") OVER (
        PARTITION BY "t1"."patient_id"
        ORDER BY "t1"."start" ASC
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
      ) AS "prev"
    FROM (
      SELECT DISTINCT
        "t0"."patient_id",
        "t0"."start"
      FROM "sleitp_step_23" AS "t0"
    ) AS "t1"
  ) AS "t2"
) AS "t3";

-- lines._line_starts
SELECT
  "t0"."patient_id",
  "t0"."island",
  MIN("t0"."start") AS "anchor"
FROM "sleitp_step_25" AS "t0"
GROUP BY
  1,
  2;

-- lines._line_starts
SELECT
  "t4"."patient_id",
  "t4"."island",
  "t4"."start"
FROM (
  SELECT
    "t2"."patient_id",
    "t2"."start",
    "t2"."island",
    "t3"."anchor"
  FROM "sleitp_step_25" AS "t2"
  INNER JOIN "sleitp_step_26" AS "t3"
    ON "t2"."patient_id" = "t3"."patient_id" AND "t2"."island" = "t3"."island"
) AS "t4"
WHERE
  "t4"."start" > (
    "t4"."anchor" + INTERVAL '7' DAY
  );

-- lines.treatment_lines
SELECT
  "t6"."patient_id",
  "t6"."line",
  "t6"."start",
  "t6"."evaluation_end",
  "t6"."at"
FROM (
  SELECT
    "t5"."patient_id",
    "t5"."start",
    "t5"."at",
    CAST((
      ROW_NUMBER() OVER (
        PARTITION BY "t5"."patient_id"
        ORDER BY "t5"."start" ASC
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
      ) - 1
    ) + 1 AS INT) AS "line",
    CASE
      WHEN LEAD("t5"."start") OVER (
        PARTITION BY "t5"."patient_id"
        ORDER BY "t5"."start" ASC
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
      ) IS NULL
      THEN "t5"."at"
      ELSE CAST(CAST(LEAD("t5"."start") OVER (
        PARTITION BY "t5"."patient_id"
        ORDER BY "t5"."start" ASC
        ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
      ) - INTERVAL '1' DAY AS TIMESTAMP) AS DATE)
    END AS "evaluation_end"
  FROM (
    SELECT
      "t4"."patient_id",
      "t4"."start",
      "t2"."at"
    FROM (
      SELECT
        "t0"."patient_id",
        "t0"."anchor" AS "start"
      FROM "sleitp_step_26" AS "t0"
    ) AS "t4"
    INNER JOIN "sleitp_step_11" AS "t2"
      ON "t4"."patient_id" = "t2"."patient_id"
  ) AS "t5"
) AS "t6";

-- lines.treatment_lines
SELECT
  "t2"."patient_id",
  "t3"."line",
  "t2"."k",
  "t2"."agent",
  "t2"."start",
  "t2"."end",
  "t2"."frequency"
FROM "sleitp_step_23" AS "t2"
INNER JOIN "sleitp_step_28" AS "t3"
  ON "t2"."patient_id" = "t3"."patient_id"
  AND "t2"."start" >= "t3"."start"
  AND "t2"."start" <= (
    "t3"."start" + INTERVAL '7' DAY
  );

-- lines.treatment_lines
SELECT
  "t31"."patient_id",
  COALESCE("t31"."l_form", "t31"."l_cont", "t31"."l_host") AS "line",
  "t31"."agent",
  "t31"."start",
  "t31"."end",
  "t31"."frequency",
  "t31"."at"
FROM (
  SELECT
    "t30".*
    EXCLUDE ("k_right", "patient_id_right")
  FROM (
    SELECT
      "t29"."patient_id",
      "t29"."k",
      "t29"."agent",
      "t29"."start",
      "t29"."end",
      "t29"."frequency",
      "t29"."at",
      "t29"."role",
      "t29"."l_form",
      "t29"."l_cont",
      "t24"."patient_id" AS "patient_id_right",
      "t24"."k" AS "k_right",
      "t24"."l_host"
    FROM (
      SELECT
        "t27".*
        EXCLUDE ("k_right", "patient_id_right")
      FROM (
        SELECT
          "t19"."patient_id",
          "t19"."k",
          "t19"."agent",
          "t19"."start",
          "t19"."end",
          "t19"."frequency",
          "t19"."at",
          "t19"."role",
          "t19"."l_form",
          "t26"."patient_id" AS "patient_id_right",
          "t26"."k" AS "k_right",
          "t26"."l_cont"
        FROM (
          SELECT
            "t15".*
            EXCLUDE ("k_right", "patient_id_right")
          FROM (
            SELECT
              "t4"."patient_id",
              "t4"."k",
              "t4"."agent",
              "t4"."start",
              "t4"."end",
              "t4"."frequency",
              "t4"."at",
              "t4"."role",
              "t10"."patient_id" AS "patient_id_right",
              "t10"."k" AS "k_right",
              "t10"."l_form"
            FROM "sleitp_step_21" AS "t4"
            LEFT OUTER JOIN (
              SELECT
                "t2"."patient_id",
                "t2"."k",
                "t2"."line" AS "l_form"
              FROM "sleitp_step_29" AS "t2"
            ) AS "t10"
              ON "t4"."patient_id" = "t10"."patient_id" AND "t4"."k" = "t10"."k"
          ) AS "t15"
        ) AS "t19"
        LEFT OUTER JOIN (
          SELECT
            "t5"."patient_id",
            "t5"."k",
            "t22"."line" AS "l_cont"
          FROM "sleitp_step_24" AS "t5"
          INNER JOIN (
            SELECT
              "t16"."patient_id",
              "t16"."k",
              MAX("t16"."m_line") AS "line"
            FROM (
              SELECT
                "t5"."patient_id",
                "t5"."k",
                "t5"."agent",
                "t5"."start",
                "t5"."end",
                "t5"."frequency",
                "t5"."at",
                "t12"."patient_id" AS "patient_id_right",
                "t12"."m_line",
                "t12"."m_k",
                "t12"."m_agent"
              FROM "sleitp_step_24" AS "t5"
              INNER JOIN (
                SELECT
                  "t2"."patient_id",
                  "t2"."line" AS "m_line",
                  "t2"."k" AS "m_k",
                  "t2"."agent" AS "m_agent"
                FROM "sleitp_step_29" AS "t2"
              ) AS "t12"
                ON "t5"."patient_id" = "t12"."patient_id"
                AND "t5"."agent" = "t12"."m_agent"
                AND "t12"."m_k" < "t5"."k"
            ) AS "t16"
            GROUP BY
              1,
              2
          ) AS "t22"
            ON "t5"."patient_id" = "t22"."patient_id" AND "t5"."k" = "t22"."k"
        ) AS "t26"
          ON "t19"."patient_id" = "t26"."patient_id" AND "t19"."k" = "t26"."k"
      ) AS "t27"
    ) AS "t29"
    LEFT OUTER JOIN (
      SELECT
        "t13"."patient_id",
        "t13"."k",
        "t20"."h_line" AS "l_host"
      FROM (
        SELECT
          *
        FROM "sleitp_step_21" AS "t0"
        WHERE
          "t0"."role" = 'with_dexamethasone'
      ) AS "t13"
      INNER JOIN (
        SELECT
          "t14"."patient_id",
          "t14"."line" AS "h_line",
          "t6"."start" AS "h_start"
        FROM (
          SELECT DISTINCT
            "t2"."patient_id",
            "t2"."line"
          FROM "sleitp_step_29" AS "t2"
          WHERE
            "t2"."agent" = 'dexamethasone'
        ) AS "t14"
        INNER JOIN "sleitp_step_28" AS "t6"
          ON "t14"."patient_id" = "t6"."patient_id" AND "t14"."line" = "t6"."line"
      ) AS "t20"
        ON "t13"."patient_id" = "t20"."patient_id"
        AND "t13"."start" >= "t20"."h_start"
        AND "t13"."start" <= (
          "t20"."h_start" + INTERVAL '7' DAY
        )
    ) AS "t24"
      ON "t29"."patient_id" = "t24"."patient_id" AND "t29"."k" = "t24"."k"
  ) AS "t30"
) AS "t31"
WHERE
  NOT COALESCE("t31"."l_form", "t31"."l_cont", "t31"."l_host") IS NULL;

-- lines.treatment_lines
SELECT
  "t2"."patient_id",
  "t2"."line",
  "t2"."start",
  "t2"."evaluation_end",
  "t5"."agents",
  "t5"."expected_response_days",
  "t2"."at",
  CASE WHEN "t5"."still" THEN CAST(NULL AS DATE) ELSE "t5"."last" END AS "last_given"
FROM "sleitp_step_28" AS "t2"
INNER JOIN (
  SELECT
    "t3"."patient_id",
    "t3"."line",
    ARRAY_SORT("t3"."agents") AS "agents",
    "t3"."expected_response_days",
    "t3"."still",
    "t3"."last"
  FROM (
    SELECT
      "t1"."patient_id",
      "t1"."line",
      ARRAY_AGG(DISTINCT "t1"."agent") FILTER(WHERE
        NOT "t1"."agent" IS NULL) AS "agents",
      CAST(MAX(
        CASE
          WHEN "t1"."agent" = 'dexamethasone'
          THEN 10
          WHEN "t1"."agent" = 'prednisone'
          THEN 28
          WHEN "t1"."agent" = 'prednisolone'
          THEN 28
          WHEN "t1"."agent" = 'hydrocortisone'
          THEN 28
          WHEN "t1"."agent" = 'methylprednisolone'
          THEN 28
          WHEN "t1"."agent" = 'ivig'
          THEN 7
          WHEN "t1"."agent" = 'platelet_transfusion'
          THEN 1
          WHEN "t1"."agent" = 'rituximab'
          THEN 84
          WHEN "t1"."agent" = 'eltrombopag'
          THEN 28
          WHEN "t1"."agent" = 'romiplostim'
          THEN 28
          WHEN "t1"."agent" = 'avatrombopag'
          THEN 28
          WHEN "t1"."agent" = 'hetrombopag'
          THEN 56
          WHEN "t1"."agent" = 'rhtpo'
          THEN 14
          WHEN "t1"."agent" = 'danazol'
          THEN 120
          WHEN "t1"."agent" = 'hydroxychloroquine'
          THEN 90
          WHEN "t1"."agent" = 'telitacicept'
          THEN 150
          WHEN "t1"."agent" = 'fostamatinib'
          THEN 30
          WHEN "t1"."agent" = 'rilzabrutinib'
          THEN 30
          WHEN "t1"."agent" = 'splenectomy'
          THEN 24
          WHEN "t1"."agent" = 'oseltamivir'
          THEN 14
          ELSE 90
        END
      ) AS INT) AS "expected_response_days",
      BOOL_OR(
        CAST(NOT (
          LOWER(TRIM(COALESCE("t1"."frequency", ''), ' 	
')) IN ('once', 'single', 'single dose', 'stat')
          OR (
            "t1"."agent" = 'splenectomy'
          )
        )
        AND (
          (
            "t1"."end" IS NULL
          ) OR (
            "t1"."end" >= "t1"."at"
          )
        ) AS BOOLEAN)
      ) AS "still",
      MAX(
        CASE
          WHEN LOWER(TRIM(COALESCE("t1"."frequency", ''), ' 	
')) IN ('once', 'single', 'single dose', 'stat')
          OR (
            "t1"."agent" = 'splenectomy'
          )
          THEN "t1"."start"
          ELSE "t1"."end"
        END
      ) AS "last"
    FROM "sleitp_step_30" AS "t1"
    GROUP BY
      1,
      2
  ) AS "t3"
) AS "t5"
  ON "t2"."patient_id" = "t5"."patient_id" AND "t2"."line" = "t5"."line";
