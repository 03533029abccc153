-- run.derive_tables
SELECT
  "t0"."patient_id",
  "t0"."assessment_date" AS "at"
FROM "sleitp_step_6" AS "t0";

-- run.derive_tables
SELECT
  COALESCE("t6"."patient_id", "t3"."patient_id") AS "patient_id",
  COALESCE("t6"."date", "t3"."date") AS "date",
  "t6"."platelets",
  NOT "t3"."patient_id" IS NULL AS "bleed"
FROM (
  SELECT
    "t4"."patient_id",
    "t4"."date",
    MIN("t4"."platelets") AS "platelets"
  FROM (
    SELECT
      "t0"."patient_id",
      "t0"."date",
      "t0"."value" AS "platelets"
    FROM "sleitp_parquet_2" AS "t0"
    WHERE
      "t0"."test" = 'platelets'
      AND NOT "t0"."value" IS NULL
      AND NOT (
        ISNAN("t0"."value")
      )
      AND CASE
        WHEN "t0"."test" = 'platelets'
        THEN (
          "t0"."value" >= 0
        ) AND (
          "t0"."value" <= 2000
        )
        ELSE FALSE
      END
  ) AS "t4"
  GROUP BY
    1,
    2
) AS "t6"
FULL OUTER JOIN (
  SELECT DISTINCT
    "t1"."patient_id",
    "t1"."date"
  FROM "sleitp_step_9" AS "t1"
  WHERE
    "t1"."who_grade" >= 1
) AS "t3"
  ON "t6"."patient_id" = "t3"."patient_id" AND "t6"."date" = "t3"."date";

-- run.derive_tables
WITH "t13" AS (
  SELECT
    "t7"."lk",
    "t7"."date",
    "t7"."bleed",
    "t7"."q_cr",
    "t7"."q_rb",
    "t7"."fails",
    "t7"."is_count",
    "t7"."run_cr",
    "t7"."run_rb",
    "t9"."fail_first",
    "t9"."fail_last",
    "t9"."last_count",
    "t9"."cr_first",
    "t9"."cr_run",
    "t9"."rb_first",
    "t9"."rb_run",
    "t9"."cr_confirm",
    "t9"."rb_confirm"
  FROM "sleitp_step_35" AS "t7"
  INNER JOIN (
    SELECT
      *
    FROM "sleitp_step_37" AS "t0"
    WHERE
      NOT "t0"."rb_first" IS NULL
  ) AS "t9"
    ON "t7"."lk" = "t9"."lk"
)
SELECT
  "t29"."patient_id",
  "t29"."line",
  "t29"."agents",
  "t29"."start",
  "t29"."baseline_platelets",
  "t29"."category",
  "t29"."time_to_response_days",
  CAST(DATE_DIFF('DAY', "t29"."start", "t29"."cr_first") AS INT) AS "time_to_complete_response_days",
  "t29"."loss_of_response_date",
  "t29"."evaluation_end",
  "t29"."expected_response_days",
  "t29"."days_evaluated",
  CASE
    WHEN "t29"."category" IN ('NR', 'NE')
    AND (
      (
        "t29"."days_evaluated" < "t29"."expected_response_days"
      )
      OR (
        "t29"."last_count" IS NULL
      )
      OR (
        DATE_DIFF('DAY', "t29"."start", "t29"."last_count") < (
          "t29"."expected_response_days" - 7
        )
      )
    )
    AND (
      "t29"."evaluation_end" >= "t29"."at"
    )
    THEN 'under_evaluation'
    WHEN "t29"."category" IN ('NR', 'NE')
    AND (
      (
        "t29"."days_evaluated" < "t29"."expected_response_days"
      )
      OR (
        "t29"."last_count" IS NULL
      )
      OR (
        DATE_DIFF('DAY', "t29"."start", "t29"."last_count") < (
          "t29"."expected_response_days" - 7
        )
      )
    )
    THEN 'changed_before_evaluable'
    WHEN "t29"."category" = 'NR'
    THEN 'no_response'
    WHEN "t29"."category" = 'NE'
    THEN 'not_evaluable'
    WHEN (
      "t29"."response_lost_date" IS NULL
    ) AND (
      "t29"."category" = 'CR'
    )
    THEN 'complete_response'
    WHEN "t29"."response_lost_date" IS NULL
    THEN 'response'
    WHEN (
      "t29"."last_given" IS NULL
    )
    OR (
      "t29"."response_lost_date" <= "t29"."last_given"
    )
    THEN 'response_lost_on_treatment'
    WHEN (
      NOT "t29"."time_to_response_days" IS NULL
    )
    AND (
      (
        DATE_DIFF('DAY', "t29"."start", "t29"."response_lost_date") - "t29"."time_to_response_days"
      ) >= 180
    )
    THEN 'relapse_after_durable_response'
    ELSE 'relapse_after_stopping'
  END AS "status",
  "t29"."response_lost_date",
  "t29"."last_given"
FROM (
  SELECT
    "t28"."patient_id",
    "t28"."line",
    "t28"."start",
    "t28"."evaluation_end",
    "t28"."agents",
    "t28"."expected_response_days",
    "t28"."at",
    "t28"."last_given",
    "t28"."lk",
    "t28"."counts_from",
    "t28"."baseline_platelets",
    "t28"."fail_first",
    "t28"."fail_last",
    "t28"."last_count",
    "t28"."cr_first",
    "t28"."cr_run",
    "t28"."rb_first",
    "t28"."rb_run",
    "t28"."cr_confirm",
    "t28"."rb_confirm",
    "t28"."loss_of_response_date",
    "t28"."response_lost_date",
    CASE
      WHEN NOT "t28"."cr_first" IS NULL
      THEN 'CR'
      WHEN NOT "t28"."rb_first" IS NULL
      THEN 'R'
      WHEN (
        NOT "t28"."fail_last" IS NULL
      )
      AND (
        DATE_DIFF('DAY', "t28"."fail_first", "t28"."fail_last") >= 1
      )
      THEN 'NR'
      ELSE 'NE'
    END AS "category",
    CAST(DATE_DIFF('DAY', "t28"."start", "t28"."evaluation_end") AS INT) AS "days_evaluated",
    CAST(DATE_DIFF('DAY', "t28"."start", "t28"."rb_first") AS INT) AS "time_to_response_days"
  FROM (
    SELECT
      "t27".*
      EXCLUDE ("lk_right")
    FROM (
      SELECT
        "t17"."patient_id",
        "t17"."line",
        "t17"."start",
        "t17"."evaluation_end",
        "t17"."agents",
        "t17"."expected_response_days",
        "t17"."at",
        "t17"."last_given",
        "t17"."lk",
        "t17"."counts_from",
        "t17"."baseline_platelets",
        "t17"."fail_first",
        "t17"."fail_last",
        "t17"."last_count",
        "t17"."cr_first",
        "t17"."cr_run",
        "t17"."rb_first",
        "t17"."rb_run",
        "t17"."cr_confirm",
        "t17"."rb_confirm",
        "t26"."lk" AS "lk_right",
        "t26"."loss_of_response_date",
        "t26"."response_lost_date"
      FROM (
        SELECT
          "t15".*
          EXCLUDE ("lk_right")
        FROM (
          SELECT
            "t12"."patient_id",
            "t12"."line",
            "t12"."start",
            "t12"."evaluation_end",
            "t12"."agents",
            "t12"."expected_response_days",
            "t12"."at",
            "t12"."last_given",
            "t12"."lk",
            "t12"."counts_from",
            "t12"."baseline_platelets",
            "t4"."lk" AS "lk_right",
            "t4"."fail_first",
            "t4"."fail_last",
            "t4"."last_count",
            "t4"."cr_first",
            "t4"."cr_run",
            "t4"."rb_first",
            "t4"."rb_run",
            "t4"."cr_confirm",
            "t4"."rb_confirm"
          FROM (
            SELECT
              "t10".*
              EXCLUDE ("lk_right")
            FROM (
              SELECT
                "t5"."patient_id",
                "t5"."line",
                "t5"."start",
                "t5"."evaluation_end",
                "t5"."agents",
                "t5"."expected_response_days",
                "t5"."at",
                "t5"."last_given",
                "t5"."lk",
                "t5"."counts_from",
                "t6"."lk" AS "lk_right",
                "t6"."baseline_platelets"
              FROM "sleitp_step_32" AS "t5"
              LEFT OUTER JOIN "sleitp_step_34" AS "t6"
                ON "t5"."lk" = "t6"."lk"
            ) AS "t10"
          ) AS "t12"
          LEFT OUTER JOIN "sleitp_step_37" AS "t4"
            ON "t12"."lk" = "t4"."lk"
        ) AS "t15"
      ) AS "t17"
      LEFT OUTER JOIN (
        SELECT
          COALESCE("t24"."lk", "t22"."lk") AS "lk",
          CASE
            WHEN "t24"."pair_first" IS NULL
            THEN "t22"."bleed_first"
            ELSE CASE
              WHEN (
                "t22"."bleed_first" IS NULL
              )
              OR (
                "t24"."pair_first" <= "t22"."bleed_first"
              )
              THEN "t24"."pair_first"
              ELSE "t22"."bleed_first"
            END
          END AS "loss_of_response_date",
          CASE
            WHEN "t24"."pair_r_first" IS NULL
            THEN "t22"."bleed_first"
            ELSE CASE
              WHEN (
                "t22"."bleed_first" IS NULL
              )
              OR (
                "t24"."pair_r_first" <= "t22"."bleed_first"
              )
              THEN "t24"."pair_r_first"
              ELSE "t22"."bleed_first"
            END
          END AS "response_lost_date"
        FROM (
          SELECT
            "t21"."lk",
            MIN("t21"."date") FILTER(WHERE
              "t21"."fails_level" AND COALESCE("t21"."next_fails", FALSE)) AS "pair_first",
            MIN("t21"."date") FILTER(WHERE
              "t21"."fails_r" AND COALESCE("t21"."next_fails_r", FALSE)) AS "pair_r_first"
          FROM (
            SELECT
              "t18"."lk",
              "t18"."date",
              "t18"."bleed",
              "t18"."q_cr",
              "t18"."q_rb",
              "t18"."fails",
              "t18"."is_count",
              "t18"."run_cr",
              "t18"."run_rb",
              "t18"."fail_first",
              "t18"."fail_last",
              "t18"."last_count",
              "t18"."cr_first",
              "t18"."cr_run",
              "t18"."rb_first",
              "t18"."rb_run",
              "t18"."cr_confirm",
              "t18"."rb_confirm",
              "t18"."fails_level",
              "t18"."fails_r",
              LEAD("t18"."fails_level") OVER (
                PARTITION BY "t18"."lk"
                ORDER BY "t18"."date" ASC
                ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
              ) AS "next_fails",
              LEAD("t18"."fails_r") OVER (
                PARTITION BY "t18"."lk"
                ORDER BY "t18"."date" ASC
                ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
              ) AS "next_fails_r"
            FROM (
              SELECT
                "t14"."lk",
                "t14"."date",
                "t14"."bleed",
                "t14"."q_cr",
                "t14"."q_rb",
                "t14"."fails",
                "t14"."is_count",
                "t14"."run_cr",
                "t14"."run_rb",
                "t14"."fail_first",
                "t14"."fail_last",
                "t14"."last_count",
                "t14"."cr_first",
                "t14"."cr_run",
                "t14"."rb_first",
                "t14"."rb_run",
                "t14"."cr_confirm",
                "t14"."rb_confirm",
                CASE
                  WHEN NOT "t14"."cr_first" IS NULL
                  THEN NOT (
                    "t14"."q_cr"
                  )
                  ELSE NOT (
                    "t14"."q_rb"
                  )
                END AS "fails_level",
                NOT (
                  "t14"."q_rb"
                ) AS "fails_r"
              FROM "t13" AS "t14"
              WHERE
                "t14"."date" > CASE
                  WHEN NOT "t14"."cr_first" IS NULL
                  THEN "t14"."cr_confirm"
                  ELSE "t14"."rb_confirm"
                END
                AND "t14"."is_count"
            ) AS "t18"
          ) AS "t21"
          GROUP BY
            1
        ) AS "t24"
        FULL OUTER JOIN (
          SELECT
            "t19"."lk",
            MIN("t19"."date") FILTER(WHERE
              "t19"."bleed") AS "bleed_first"
          FROM (
            SELECT
              "t14"."lk",
              "t14"."date",
              "t14"."bleed",
              "t14"."q_cr",
              "t14"."q_rb",
              "t14"."fails",
              "t14"."is_count",
              "t14"."run_cr",
              "t14"."run_rb",
              "t14"."fail_first",
              "t14"."fail_last",
              "t14"."last_count",
              "t14"."cr_first",
              "t14"."cr_run",
              "t14"."rb_first",
              "t14"."rb_run",
              "t14"."cr_confirm",
              "t14"."rb_confirm",
              CASE
                WHEN NOT "t14"."cr_first" IS NULL
                THEN NOT (
                  "t14"."q_cr"
                )
                ELSE NOT (
                  "t14"."q_rb"
                )
              END AS "fails_level",
              NOT (
                "t14"."q_rb"
              ) AS "fails_r"
            FROM "t13" AS "t14"
            WHERE
              "t14"."date" > CASE
                WHEN NOT "t14"."cr_first" IS NULL
                THEN "t14"."cr_confirm"
                ELSE "t14"."rb_confirm"
              END
          ) AS "t19"
          GROUP BY
            1
        ) AS "t22"
          ON "t24"."lk" = "t22"."lk"
      ) AS "t26"
        ON "t17"."lk" = "t26"."lk"
    ) AS "t27"
  ) AS "t28"
) AS "t29";

-- run.derive_tables
SELECT
  "t42"."patient_id",
  "t42"."index_date",
  "t42"."first_line_agents",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN CASE
      WHEN NOT "t42"."birth_date" IS NULL
      THEN CAST(DATE_DIFF('DAY', "t42"."birth_date", "t42"."index_date") AS DOUBLE) / 365.25
      ELSE "t42"."age_years"
    END
    ELSE CAST(NULL AS DOUBLE)
  END AS "age_years",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN CASE
      WHEN "t42"."sex" IN ('male', 'female')
      THEN "t42"."sex" = 'male'
      ELSE CAST(NULL AS BOOLEAN)
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "male",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN "t42"."baseline_platelets"
    ELSE CAST(NULL AS DOUBLE)
  END AS "baseline_platelets",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN "t42"."baseline_platelets" < 20
    ELSE CAST(NULL AS BOOLEAN)
  END AS "platelets_below_20",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN "t42"."c3"
    ELSE CAST(NULL AS DOUBLE)
  END AS "c3",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN "t42"."c3" < COALESCE("t42"."c3_low", 0.9)
    ELSE CAST(NULL AS BOOLEAN)
  END AS "low_c3",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN "t42"."c4" < COALESCE("t42"."c4_low", 0.16)
    ELSE CAST(NULL AS BOOLEAN)
  END AS "low_c4",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t42"."anticardiolipin_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t42"."anticardiolipin_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "anticardiolipin",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t42"."history_antiphospholipid_syndrome", FALSE)
      OR (
        COALESCE(
          CASE
            WHEN COALESCE("t42"."anticardiolipin_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t42"."anticardiolipin_pos", 0) > 0
          END,
          FALSE
        )
        OR COALESCE(
          CASE
            WHEN COALESCE("t42"."anti_b2gp1_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t42"."anti_b2gp1_pos", 0) > 0
          END,
          FALSE
        )
        OR COALESCE(
          CASE
            WHEN COALESCE("t42"."lupus_anticoagulant_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t42"."lupus_anticoagulant_pos", 0) > 0
          END,
          FALSE
        )
      )
      THEN TRUE
      ELSE CASE
        WHEN (
          CASE
            WHEN COALESCE("t42"."anticardiolipin_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t42"."anticardiolipin_pos", 0) > 0
          END IS NULL
        )
        AND (
          CASE
            WHEN COALESCE("t42"."anti_b2gp1_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t42"."anti_b2gp1_pos", 0) > 0
          END IS NULL
        )
        AND (
          CASE
            WHEN COALESCE("t42"."lupus_anticoagulant_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t42"."lupus_anticoagulant_pos", 0) > 0
          END IS NULL
        )
        THEN CAST(NULL AS BOOLEAN)
        ELSE FALSE
      END
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "antiphospholipid",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN COALESCE("t42"."aiha_n", 0) > 0
    ELSE CAST(NULL AS BOOLEAN)
  END AS "autoimmune_hemolysis",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN "t42"."pregnant"
    ELSE CAST(NULL AS BOOLEAN)
  END AS "pregnant",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN "t42"."nlr"
    ELSE CAST(NULL AS DOUBLE)
  END AS "nlr",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN "t42"."sii"
    ELSE CAST(NULL AS DOUBLE)
  END AS "sii",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN "t42"."megakaryocytes"
    ELSE CAST(NULL AS DOUBLE)
  END AS "megakaryocytes",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN "t42"."megakaryocytes" < 20
    ELSE CAST(NULL AS BOOLEAN)
  END AS "megakaryocytes_below_20",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t42"."anti_tpo_receptor_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t42"."anti_tpo_receptor_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "anti_tpo_receptor",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t42"."antiplatelet_antibody_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t42"."antiplatelet_antibody_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "antiplatelet_antibody",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t42"."anti_sm_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t42"."anti_sm_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "anti_sm",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t42"."anti_ssa_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t42"."anti_ssa_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "anti_ssa",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN "t42"."hemoglobin"
    ELSE CAST(NULL AS DOUBLE)
  END AS "hemoglobin",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN COALESCE("t42"."history_lupus_nephritis", FALSE)
    OR (
      COALESCE("t42"."ln_n", 0) > 0
    )
    ELSE CAST(NULL AS BOOLEAN)
  END AS "lupus_nephritis",
  CASE
    WHEN NOT "t42"."index_date" IS NULL
    THEN CAST(COALESCE("t42"."who_max", 0) AS DOUBLE)
    ELSE CAST(NULL AS DOUBLE)
  END AS "who_bleeding_grade"
FROM (
  SELECT
    "t41".*
    EXCLUDE ("patient_id_right")
  FROM (
    SELECT
      "t40"."patient_id",
      "t40"."sex",
      "t40"."birth_date",
      "t40"."age_years",
      "t40"."pregnant",
      "t40"."weight_kg",
      "t40"."sle_diagnosis_date",
      "t40"."itp_diagnosis_date",
      "t40"."assessment_date",
      "t40"."history_antiphospholipid_syndrome",
      "t40"."history_thrombosis",
      "t40"."history_lupus_nephritis",
      "t40"."history_active_infection",
      "t40"."history_hepatitis_b",
      "t40"."history_splenectomy",
      "t40"."history_liver_disease",
      "t40"."seq",
      "t40"."baseline_platelets",
      "t40"."index_date",
      "t40"."first_line_agents",
      "t40"."c3",
      "t40"."c4",
      "t40"."c3_low",
      "t40"."c4_low",
      "t40"."hemoglobin",
      "t40"."megakaryocytes",
      "t40"."anticardiolipin_n",
      "t40"."anti_b2gp1_n",
      "t40"."lupus_anticoagulant_n",
      "t40"."anti_tpo_receptor_n",
      "t40"."antiplatelet_antibody_n",
      "t40"."anti_sm_n",
      "t40"."anti_ssa_n",
      "t40"."anticardiolipin_pos",
      "t40"."anti_b2gp1_pos",
      "t40"."lupus_anticoagulant_pos",
      "t40"."anti_tpo_receptor_pos",
      "t40"."antiplatelet_antibody_pos",
      "t40"."anti_sm_pos",
      "t40"."anti_ssa_pos",
      "t40"."nlr",
      "t40"."sii",
      "t40"."aiha_n",
      "t40"."ln_n",
      "t30"."patient_id" AS "patient_id_right",
      "t30"."who_max"
    FROM (
      SELECT
        "t38".*
        EXCLUDE ("patient_id_right")
      FROM (
        SELECT
          "t37"."patient_id",
          "t37"."sex",
          "t37"."birth_date",
          "t37"."age_years",
          "t37"."pregnant",
          "t37"."weight_kg",
          "t37"."sle_diagnosis_date",
          "t37"."itp_diagnosis_date",
          "t37"."assessment_date",
          "t37"."history_antiphospholipid_syndrome",
          "t37"."history_thrombosis",
          "t37"."history_lupus_nephritis",
          "t37"."history_active_infection",
          "t37"."history_hepatitis_b",
          "t37"."history_splenectomy",
          "t37"."history_liver_disease",
          "t37"."seq",
          "t37"."baseline_platelets",
          "t37"."index_date",
          "t37"."first_line_agents",
          "t37"."c3",
          "t37"."c4",
          "t37"."c3_low",
          "t37"."c4_low",
          "t37"."hemoglobin",
          "t37"."megakaryocytes",
          "t37"."anticardiolipin_n",
          "t37"."anti_b2gp1_n",
          "t37"."lupus_anticoagulant_n",
          "t37"."anti_tpo_receptor_n",
          "t37"."antiplatelet_antibody_n",
          "t37"."anti_sm_n",
          "t37"."anti_ssa_n",
          "t37"."anticardiolipin_pos",
          "t37"."anti_b2gp1_pos",
          "t37"."lupus_anticoagulant_pos",
          "t37"."anti_tpo_receptor_pos",
          "t37"."antiplatelet_antibody_pos",
          "t37"."anti_sm_pos",
          "t37"."anti_ssa_pos",
          "t37"."nlr",
          "t37"."sii",
          "t34"."patient_id" AS "patient_id_right",
          "t34"."aiha_n",
          "t34"."ln_n"
        FROM (
          SELECT
            "t35".*
            EXCLUDE ("patient_id_right")
          FROM (
            SELECT
              "t32"."patient_id",
              "t32"."sex",
              "t32"."birth_date",
              "t32"."age_years",
              "t32"."pregnant",
              "t32"."weight_kg",
              "t32"."sle_diagnosis_date",
              "t32"."itp_diagnosis_date",
              "t32"."assessment_date",
              "t32"."history_antiphospholipid_syndrome",
              "t32"."history_thrombosis",
              "t32"."history_lupus_nephritis",
              "t32"."history_active_infection",
              "t32"."history_hepatitis_b",
              "t32"."history_splenectomy",
              "t32"."history_liver_disease",
              "t32"."seq",
              "t32"."baseline_platelets",
              "t32"."index_date",
              "t32"."first_line_agents",
              "t32"."c3",
              "t32"."c4",
              "t32"."c3_low",
              "t32"."c4_low",
              "t32"."hemoglobin",
              "t32"."megakaryocytes",
              "t32"."anticardiolipin_n",
              "t32"."anti_b2gp1_n",
              "t32"."lupus_anticoagulant_n",
              "t32"."anti_tpo_receptor_n",
              "t32"."antiplatelet_antibody_n",
              "t32"."anti_sm_n",
              "t32"."anti_ssa_n",
              "t32"."anticardiolipin_pos",
              "t32"."anti_b2gp1_pos",
              "t32"."lupus_anticoagulant_pos",
              "t32"."anti_tpo_receptor_pos",
              "t32"."antiplatelet_antibody_pos",
              "t32"."anti_sm_pos",
              "t32"."anti_ssa_pos",
              "t33"."patient_id" AS "patient_id_right",
              "t33"."nlr",
              "t33"."sii"
            FROM (
              SELECT
                "t26".*
                EXCLUDE ("patient_id_right")
              FROM (
                SELECT
                  "t21"."patient_id",
                  "t21"."sex",
                  "t21"."birth_date",
                  "t21"."age_years",
                  "t21"."pregnant",
                  "t21"."weight_kg",
                  "t21"."sle_diagnosis_date",
                  "t21"."itp_diagnosis_date",
                  "t21"."assessment_date",
                  "t21"."history_antiphospholipid_syndrome",
                  "t21"."history_thrombosis",
                  "t21"."history_lupus_nephritis",
                  "t21"."history_active_infection",
                  "t21"."history_hepatitis_b",
                  "t21"."history_splenectomy",
                  "t21"."history_liver_disease",
                  "t21"."seq",
                  "t21"."baseline_platelets",
                  "t21"."index_date",
                  "t21"."first_line_agents",
                  "t22"."patient_id" AS "patient_id_right",
                  "t22"."c3",
                  "t22"."c4",
                  "t22"."c3_low",
                  "t22"."c4_low",
                  "t22"."hemoglobin",
                  "t22"."megakaryocytes",
                  "t22"."anticardiolipin_n",
                  "t22"."anti_b2gp1_n",
                  "t22"."lupus_anticoagulant_n",
                  "t22"."anti_tpo_receptor_n",
                  "t22"."antiplatelet_antibody_n",
                  "t22"."anti_sm_n",
                  "t22"."anti_ssa_n",
                  "t22"."anticardiolipin_pos",
                  "t22"."anti_b2gp1_pos",
                  "t22"."lupus_anticoagulant_pos",
                  "t22"."anti_tpo_receptor_pos",
                  "t22"."antiplatelet_antibody_pos",
                  "t22"."anti_sm_pos",
                  "t22"."anti_ssa_pos"
                FROM (
                  SELECT
                    "t17".*
                    EXCLUDE ("patient_id_right")
                  FROM (
                    SELECT
                      "t6"."patient_id",
                      "t6"."sex",
                      "t6"."birth_date",
                      "t6"."age_years",
                      "t6"."pregnant",
                      "t6"."weight_kg",
                      "t6"."sle_diagnosis_date",
                      "t6"."itp_diagnosis_date",
                      "t6"."assessment_date",
                      "t6"."history_antiphospholipid_syndrome",
                      "t6"."history_thrombosis",
                      "t6"."history_lupus_nephritis",
                      "t6"."history_active_infection",
                      "t6"."history_hepatitis_b",
                      "t6"."history_splenectomy",
                      "t6"."history_liver_disease",
                      "t6"."seq",
                      "t13"."patient_id" AS "patient_id_right",
                      "t13"."baseline_platelets",
                      "t13"."index_date",
                      "t13"."first_line_agents"
                    FROM "sleitp_step_6" AS "t6"
                    LEFT OUTER JOIN (
                      SELECT
                        "t1"."patient_id",
                        "t1"."baseline_platelets",
                        "t1"."start" AS "index_date",
                        "t1"."agents" AS "first_line_agents"
                      FROM "sleitp_step_38" AS "t1"
                      WHERE
                        "t1"."line" = 1
                    ) AS "t13"
                      ON "t6"."patient_id" = "t13"."patient_id"
                  ) AS "t17"
                ) AS "t21"
                LEFT OUTER JOIN (
                  SELECT
                    "t10"."patient_id",
                    ARG_MAX_NULL("t10"."value", "t10"."k") FILTER(WHERE
                      (
                        "t10"."test" = 'c3'
                      ) AND (
                        "t10"."ago" <= 90
                      )) AS "c3",
                    ARG_MAX_NULL("t10"."value", "t10"."k") FILTER(WHERE
                      (
                        "t10"."test" = 'c4'
                      ) AND (
                        "t10"."ago" <= 90
                      )) AS "c4",
                    ARG_MAX_NULL("t10"."reference_low", "t10"."k") FILTER(WHERE
                      (
                        "t10"."test" = 'c3'
                      ) AND (
                        "t10"."ago" <= 90
                      )) AS "c3_low",
                    ARG_MAX_NULL("t10"."reference_low", "t10"."k") FILTER(WHERE
                      (
                        "t10"."test" = 'c4'
                      ) AND (
                        "t10"."ago" <= 90
                      )) AS "c4_low",
                    ARG_MAX_NULL("t10"."value", "t10"."k") FILTER(WHERE
                      (
                        "t10"."test" = 'hemoglobin'
                      ) AND (
                        "t10"."ago" <= 90
                      )) AS "hemoglobin",
                    ARG_MAX_NULL("t10"."value", "t10"."k") FILTER(WHERE
                      (
                        "t10"."test" = 'megakaryocytes'
                      ) AND (
                        "t10"."ago" <= 90
                      )) AS "megakaryocytes",
                    SUM(CAST("t10"."test" = 'anticardiolipin' AS BIGINT)) AS "anticardiolipin_n",
                    SUM(CAST("t10"."test" = 'anti_b2gp1' AS BIGINT)) AS "anti_b2gp1_n",
                    SUM(CAST("t10"."test" = 'lupus_anticoagulant' AS BIGINT)) AS "lupus_anticoagulant_n",
                    SUM(CAST("t10"."test" = 'anti_tpo_receptor' AS BIGINT)) AS "anti_tpo_receptor_n",
                    SUM(CAST("t10"."test" = 'antiplatelet_antibody' AS BIGINT)) AS "antiplatelet_antibody_n",
                    SUM(CAST("t10"."test" = 'anti_sm' AS BIGINT)) AS "anti_sm_n",
                    SUM(CAST("t10"."test" = 'anti_ssa' AS BIGINT)) AS "anti_ssa_n",
                    SUM(
                      CAST((
                        "t10"."test" = 'anticardiolipin'
                      ) AND (
                        "t10"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anticardiolipin_pos",
                    SUM(
                      CAST((
                        "t10"."test" = 'anti_b2gp1'
                      ) AND (
                        "t10"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anti_b2gp1_pos",
                    SUM(
                      CAST((
                        "t10"."test" = 'lupus_anticoagulant'
                      ) AND (
                        "t10"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "lupus_anticoagulant_pos",
                    SUM(
                      CAST((
                        "t10"."test" = 'anti_tpo_receptor'
                      ) AND (
                        "t10"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anti_tpo_receptor_pos",
                    SUM(
                      CAST((
                        "t10"."test" = 'antiplatelet_antibody'
                      )
                      AND (
                        "t10"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "antiplatelet_antibody_pos",
                    SUM(
                      CAST((
                        "t10"."test" = 'anti_sm'
                      ) AND (
                        "t10"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anti_sm_pos",
                    SUM(
                      CAST((
                        "t10"."test" = 'anti_ssa'
                      ) AND (
                        "t10"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anti_ssa_pos"
                  FROM (
                    SELECT
                      *
                    FROM "sleitp_step_39" AS "t3"
                    WHERE
                      "t3"."test" IN (
                        'anti_b2gp1',
                        'anti_sm',
                        'anti_ssa',
                        'anti_tpo_receptor',
                        'anticardiolipin',
                        'antiplatelet_antibody',
                        'c3',
                        'c4',
                        'hemoglobin',
                        'lupus_anticoagulant',
                        'megakaryocytes'
                      )
                  ) AS "t10"
                  GROUP BY
                    1
                ) AS "t22"
                  ON "t21"."patient_id" = "t22"."patient_id"
              ) AS "t26"
            ) AS "t32"
            LEFT OUTER JOIN (
              SELECT
                "t23"."patient_id",
                ARG_MAX_NULL("t23"."neu" / "t23"."lym", "t23"."date") AS "nlr",
                ARG_MAX_NULL((
                  "t23"."plt" * "t23"."neu"
                ) / "t23"."lym", "t23"."date") FILTER(WHERE
                  NOT "t23"."plt" IS NULL) AS "sii"
              FROM (
                SELECT
                  *
                FROM (
                  SELECT
                    "t11"."patient_id",
                    "t11"."date",
                    ARG_MAX_NULL("t11"."value", "t11"."k") FILTER(WHERE
                      "t11"."test" = 'neutrophils') AS "neu",
                    ARG_MAX_NULL("t11"."value", "t11"."k") FILTER(WHERE
                      "t11"."test" = 'lymphocytes') AS "lym",
                    ARG_MAX_NULL("t11"."value", "t11"."k") FILTER(WHERE
                      "t11"."test" = 'platelets') AS "plt"
                  FROM (
                    SELECT
                      *
                    FROM "sleitp_step_39" AS "t3"
                    WHERE
                      NOT "t3"."value" IS NULL
                      AND "t3"."test" IN ('neutrophils', 'lymphocytes', 'platelets')
                      AND "t3"."ago" <= 90
                  ) AS "t11"
                  GROUP BY
                    1,
                    2
                ) AS "t15"
                WHERE
                  NOT "t15"."neu" IS NULL AND "t15"."lym" > 0
              ) AS "t23"
              GROUP BY
                1
            ) AS "t33"
              ON "t32"."patient_id" = "t33"."patient_id"
          ) AS "t35"
        ) AS "t37"
        LEFT OUTER JOIN (
          SELECT
            "t24"."patient_id",
            SUM(CAST("t24"."name" = 'autoimmune_hemolysis' AS BIGINT)) AS "aiha_n",
            SUM(CAST("t24"."name" = 'lupus_nephritis' AS BIGINT)) AS "ln_n"
          FROM (
            SELECT
              *
            FROM (
              SELECT
                "t14"."patient_id",
                "t14"."date",
                "t14"."name",
                "t14"."nephritis_class",
                "t14"."seq",
                "t12"."index_date"
              FROM (
                SELECT
                  *
                FROM "sleitp_step_10" AS "t2"
                WHERE
                  "t2"."name" IN ('autoimmune_hemolysis', 'lupus_nephritis')
              ) AS "t14"
              INNER JOIN (
                SELECT
                  "t1"."patient_id",
                  "t1"."start" AS "index_date"
                FROM "sleitp_step_38" AS "t1"
                WHERE
                  "t1"."line" = 1
              ) AS "t12"
                ON "t14"."patient_id" = "t12"."patient_id"
            ) AS "t18"
            WHERE
              "t18"."date" <= "t18"."index_date"
          ) AS "t24"
          GROUP BY
            1
        ) AS "t34"
          ON "t37"."patient_id" = "t34"."patient_id"
      ) AS "t38"
    ) AS "t40"
    LEFT OUTER JOIN (
      SELECT
        "t25"."patient_id",
        MAX("t25"."who_grade") AS "who_max"
      FROM (
        SELECT
          *
        FROM (
          SELECT
            "t5"."patient_id",
            "t5"."date",
            "t5"."who_grade",
            "t5"."site",
            "t5"."seq",
            "t12"."index_date"
          FROM "sleitp_step_9" AS "t5"
          INNER JOIN (
            SELECT
              "t1"."patient_id",
              "t1"."start" AS "index_date"
            FROM "sleitp_step_38" AS "t1"
            WHERE
              "t1"."line" = 1
          ) AS "t12"
            ON "t5"."patient_id" = "t12"."patient_id"
        ) AS "t16"
        WHERE
          "t16"."date" <= "t16"."index_date"
          AND "t16"."date" >= (
            "t16"."index_date" - INTERVAL '7' DAY
          )
      ) AS "t25"
      GROUP BY
        1
    ) AS "t30"
      ON "t40"."patient_id" = "t30"."patient_id"
  ) AS "t41"
) AS "t42";
