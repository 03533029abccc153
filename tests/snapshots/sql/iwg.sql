-- iwg.iwg_responses
SELECT
  "t0"."patient_id",
  "t0"."line",
  "t0"."start",
  "t0"."evaluation_end",
  "t0"."agents",
  "t0"."expected_response_days",
  "t0"."at",
  "t0"."last_given",
  ROW_NUMBER() OVER (
    ORDER BY "t0"."patient_id" ASC, "t0"."line" ASC
    ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
  ) - 1 AS "lk",
  CAST(CAST("t0"."start" - INTERVAL '30' DAY AS TIMESTAMP) AS DATE) AS "counts_from"
FROM "sleitp_step_31" AS "t0";

-- iwg.iwg_responses
SELECT
  "t4"."lk",
  "t4"."date",
  "t4"."date" > "t4"."start" AS "after",
  "t4"."platelets",
  "t4"."bleed" AND (
    "t4"."date" > "t4"."start"
  ) AS "bleed"
FROM (
  SELECT
    "t2"."patient_id",
    "t2"."date",
    "t2"."platelets",
    "t2"."bleed",
    "t3"."patient_id" AS "patient_id_right",
    "t3"."line",
    "t3"."start",
    "t3"."evaluation_end",
    "t3"."agents",
    "t3"."expected_response_days",
    "t3"."at",
    "t3"."last_given",
    "t3"."lk",
    "t3"."counts_from"
  FROM "sleitp_step_12" AS "t2"
  INNER JOIN "sleitp_step_32" AS "t3"
    ON "t2"."patient_id" = "t3"."patient_id"
    AND "t2"."date" >= "t3"."counts_from"
    AND "t2"."date" <= "t3"."evaluation_end"
) AS "t4"
WHERE
  (
    "t4"."date" > "t4"."start"
  ) OR (
    NOT "t4"."platelets" IS NULL
  );

-- iwg.iwg_responses
SELECT
  "t1"."lk",
  ARG_MAX_NULL("t1"."platelets", "t1"."date") AS "baseline_platelets"
FROM (
  SELECT
    *
  FROM "sleitp_step_33" AS "t0"
  WHERE
    NOT "t0"."platelets" IS NULL AND NOT (
      "t0"."after"
    )
) AS "t1"
GROUP BY
  1;

-- iwg.iwg_responses
SELECT
  "t11".*
  EXCLUDE ("baseline_platelets", "platelets")
FROM (
  SELECT
    "t10".*
    EXCLUDE ("run")
  FROM (
    SELECT
      "t9"."lk",
      "t9"."date",
      "t9"."platelets",
      "t9"."bleed",
      "t9"."baseline_platelets",
      "t9"."q_cr",
      "t9"."q_rb",
      "t9"."fails",
      "t9"."is_count",
      "t9"."run",
      CAST(FLOOR((
        "t9"."run"
      ) / (
        4294967296
      )) AS BIGINT) AS "run_cr",
      "t9"."run" % 4294967296 AS "run_rb"
    FROM (
      SELECT
        "t8"."lk",
        "t8"."date",
        "t8"."platelets",
        "t8"."bleed",
        "t8"."baseline_platelets",
        "t8"."q_cr",
        "t8"."q_rb",
        "t8"."fails",
        "t8"."is_count",
        SUM(
          (
            CAST(NOT (
              "t8"."q_cr"
            ) AS BIGINT) * 4294967296
          ) + CAST(NOT (
            "t8"."q_rb"
          ) AS BIGINT)
        ) OVER (
          PARTITION BY "t8"."lk"
          ORDER BY "t8"."date" ASC
          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS "run"
      FROM (
        SELECT
          "t7"."lk",
          "t7"."date",
          "t7"."platelets",
          "t7"."bleed",
          "t7"."baseline_platelets",
          (
            NOT "t7"."platelets" IS NULL
          )
          AND NOT (
            "t7"."bleed"
          )
          AND (
            "t7"."platelets" >= 100.0
          ) AS "q_cr",
          (
            (
              NOT "t7"."platelets" IS NULL
            )
            AND NOT (
              "t7"."bleed"
            )
            AND (
              "t7"."platelets" >= 100.0
            )
          )
          OR (
            (
              NOT "t7"."platelets" IS NULL
            )
            AND NOT (
              "t7"."bleed"
            )
            AND (
              NOT "t7"."baseline_platelets" IS NULL
            )
            AND (
              "t7"."platelets" >= 30.0
            )
            AND (
              "t7"."platelets" >= (
                "t7"."baseline_platelets" * 2.0
              )
            )
          ) AS "q_rb",
          (
            NOT "t7"."platelets" IS NULL
          )
          AND (
            "t7"."bleed"
            OR CASE
              WHEN "t7"."baseline_platelets" IS NULL
              THEN "t7"."platelets" < 30.0
              ELSE NOT (
                (
                  (
                    NOT "t7"."platelets" IS NULL
                  )
                  AND NOT (
                    "t7"."bleed"
                  )
                  AND (
                    "t7"."platelets" >= 100.0
                  )
                )
                OR (
                  (
                    NOT "t7"."platelets" IS NULL
                  )
                  AND NOT (
                    "t7"."bleed"
                  )
                  AND (
                    NOT "t7"."baseline_platelets" IS NULL
                  )
                  AND (
                    "t7"."platelets" >= 30.0
                  )
                  AND (
                    "t7"."platelets" >= (
                      "t7"."baseline_platelets" * 2.0
                    )
                  )
                )
              )
            END
          ) AS "fails",
          NOT "t7"."platelets" IS NULL AS "is_count"
        FROM (
          SELECT
            "t6".*
            EXCLUDE ("lk_right")
          FROM (
            SELECT
              "t5"."lk",
              "t5"."date",
              "t5"."platelets",
              "t5"."bleed",
              "t2"."lk" AS "lk_right",
              "t2"."baseline_platelets"
            FROM (
              SELECT
                "t3".*
                EXCLUDE ("after")
              FROM (
                SELECT
                  *
                FROM "sleitp_step_33" AS "t1"
                WHERE
                  "t1"."after"
              ) AS "t3"
            ) AS "t5"
            LEFT OUTER JOIN "sleitp_step_34" AS "t2"
              ON "t5"."lk" = "t2"."lk"
          ) AS "t6"
        ) AS "t7"
      ) AS "t8"
    ) AS "t9"
  ) AS "t10"
) AS "t11";

-- iwg.iwg_responses
SELECT
  "t16".*
  EXCLUDE ("lk_right")
FROM (
  SELECT
    "t15"."lk",
    "t15"."fail_first",
    "t15"."fail_last",
    "t15"."last_count",
    "t15"."cr_first",
    "t15"."cr_run",
    "t11"."lk" AS "lk_right",
    "t11"."rb_first",
    "t11"."rb_run"
  FROM (
    SELECT
      "t13".*
      EXCLUDE ("lk_right")
    FROM (
      SELECT
        "t4"."lk",
        "t4"."fail_first",
        "t4"."fail_last",
        "t4"."last_count",
        "t12"."lk" AS "lk_right",
        "t12"."cr_first",
        "t12"."cr_run"
      FROM (
        SELECT
          "t0"."lk",
          MIN("t0"."date") FILTER(WHERE
            "t0"."fails") AS "fail_first",
          MAX("t0"."date") FILTER(WHERE
            "t0"."fails") AS "fail_last",
          MAX("t0"."date") FILTER(WHERE
            "t0"."is_count") AS "last_count"
        FROM "sleitp_step_35" AS "t0"
        GROUP BY
          1
      ) AS "t4"
      LEFT OUTER JOIN (
        SELECT
          "t8"."lk",
          MIN("t8"."first") AS "cr_first",
          ARG_MIN_NULL("t8"."run", "t8"."first") AS "cr_run"
        FROM (
          SELECT
            *
          FROM (
            SELECT
              "t2"."lk",
              "t2"."run_cr" AS "run",
              MIN("t2"."date") AS "first",
              MAX("t2"."date") AS "last"
            FROM (
              SELECT
                *
              FROM "sleitp_step_35" AS "t0"
              WHERE
                "t0"."q_cr"
            ) AS "t2"
            GROUP BY
              1,
              2
          ) AS "t6"
          WHERE
            DATE_DIFF('DAY', "t6"."first", "t6"."last") >= 7
        ) AS "t8"
        GROUP BY
          1
      ) AS "t12"
        ON "t4"."lk" = "t12"."lk"
    ) AS "t13"
  ) AS "t15"
  LEFT OUTER JOIN (
    SELECT
      "t7"."lk",
      MIN("t7"."first") AS "rb_first",
      ARG_MIN_NULL("t7"."run", "t7"."first") AS "rb_run"
    FROM (
      SELECT
        *
      FROM (
        SELECT
          "t1"."lk",
          "t1"."run_rb" AS "run",
          MIN("t1"."date") AS "first",
          MAX("t1"."date") AS "last"
        FROM (
          SELECT
            *
          FROM "sleitp_step_35" AS "t0"
          WHERE
            "t0"."q_rb"
        ) AS "t1"
        GROUP BY
          1,
          2
      ) AS "t5"
      WHERE
        DATE_DIFF('DAY', "t5"."first", "t5"."last") >= 7
    ) AS "t7"
    GROUP BY
      1
  ) AS "t11"
    ON "t15"."lk" = "t11"."lk"
) AS "t16";

-- iwg.iwg_responses
SELECT
  "t9".*
  EXCLUDE ("lk_right")
FROM (
  SELECT
    "t2"."lk",
    "t2"."fail_first",
    "t2"."fail_last",
    "t2"."last_count",
    "t2"."cr_first",
    "t2"."cr_run",
    "t2"."rb_first",
    "t2"."rb_run",
    "t8"."lk" AS "lk_right",
    "t8"."cr_confirm",
    "t8"."rb_confirm"
  FROM "sleitp_step_36" AS "t2"
  LEFT OUTER JOIN (
    SELECT
      "t6"."lk",
      MIN("t6"."date") FILTER(WHERE
        "t6"."q_cr"
        AND (
          "t6"."run_cr" = "t6"."cr_run"
        )
        AND (
          DATE_DIFF('DAY', "t6"."cr_first", "t6"."date") >= 7
        )) AS "cr_confirm",
      MIN("t6"."date") FILTER(WHERE
        "t6"."q_rb"
        AND (
          "t6"."run_rb" = "t6"."rb_run"
        )
        AND (
          DATE_DIFF('DAY', "t6"."rb_first", "t6"."date") >= 7
        )) AS "rb_confirm"
    FROM (
      SELECT
        "t3"."lk",
        "t3"."date",
        "t3"."bleed",
        "t3"."q_cr",
        "t3"."q_rb",
        "t3"."fails",
        "t3"."is_count",
        "t3"."run_cr",
        "t3"."run_rb",
        "t5"."fail_first",
        "t5"."fail_last",
        "t5"."last_count",
        "t5"."cr_first",
        "t5"."cr_run",
        "t5"."rb_first",
        "t5"."rb_run"
      FROM "sleitp_step_35" AS "t3"
      INNER JOIN (
        SELECT
          *
        FROM "sleitp_step_36" AS "t0"
        WHERE
          NOT "t0"."rb_first" IS NULL
      ) AS "t5"
        ON "t3"."lk" = "t5"."lk"
    ) AS "t6"
    GROUP BY
      1
  ) AS "t8"
    ON "t2"."lk" = "t8"."lk"
) AS "t9";
