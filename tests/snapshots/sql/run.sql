-- run.derive_tables
SELECT
  "t0"."patient_id",
  "t0"."assessment_date" AS "at"
FROM "sleitp_step_6" AS "t0";

-- run.derive_tables
SELECT
  "t4"."patient_id",
  "t4"."date",
  MIN("t4"."platelets") AS "platelets",
  BOOL_OR(CAST("t4"."bleed" AS BOOLEAN)) AS "bleed"
FROM (
  SELECT
    *
  FROM (
    SELECT
      "t0"."patient_id",
      "t0"."date",
      "t0"."value" AS "platelets",
      FALSE AS "bleed"
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
  ) AS "t3"
  UNION ALL
  SELECT
    *
  FROM (
    SELECT
      "t1"."patient_id",
      "t1"."date",
      CAST(NULL AS DOUBLE) AS "platelets",
      TRUE AS "bleed"
    FROM "sleitp_step_9" AS "t1"
    WHERE
      "t1"."who_grade" >= 1
  ) AS "t2"
) AS "t4"
GROUP BY
  1,
  2;

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
      "t29"."days_evaluated" < "t29"."expected_response_days"
    )
    AND (
      "t29"."evaluation_end" >= "t29"."at"
    )
    THEN 'under_evaluation'
    WHEN "t29"."category" IN ('NR', 'NE')
    AND (
      "t29"."days_evaluated" < "t29"."expected_response_days"
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
  "t41"."patient_id",
  "t41"."index_date",
  "t41"."first_line_agents",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN CASE
      WHEN NOT "t41"."birth_date" IS NULL
      THEN CAST(DATE_DIFF('DAY', "t41"."birth_date", "t41"."index_date") AS DOUBLE) / 365.25
      ELSE "t41"."age_years"
    END
    ELSE CAST(NULL AS DOUBLE)
  END AS "age_years",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN CASE
      WHEN "t41"."sex" IN ('male', 'female')
      THEN "t41"."sex" = 'male'
      ELSE CAST(NULL AS BOOLEAN)
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "male",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN "t41"."baseline_platelets"
    ELSE CAST(NULL AS DOUBLE)
  END AS "baseline_platelets",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN "t41"."baseline_platelets" < 20
    ELSE CAST(NULL AS BOOLEAN)
  END AS "platelets_below_20",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN "t41"."c3"
    ELSE CAST(NULL AS DOUBLE)
  END AS "c3",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN "t41"."c3" < COALESCE("t41"."c3_low", 0.9)
    ELSE CAST(NULL AS BOOLEAN)
  END AS "low_c3",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN "t41"."c4" < COALESCE("t41"."c4_low", 0.16)
    ELSE CAST(NULL AS BOOLEAN)
  END AS "low_c4",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t41"."anticardiolipin_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t41"."anticardiolipin_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "anticardiolipin",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t41"."history_antiphospholipid_syndrome", FALSE)
      OR (
        COALESCE(
          CASE
            WHEN COALESCE("t41"."anticardiolipin_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t41"."anticardiolipin_pos", 0) > 0
          END,
          FALSE
        )
        OR COALESCE(
          CASE
            WHEN COALESCE("t41"."anti_b2gp1_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t41"."anti_b2gp1_pos", 0) > 0
          END,
          FALSE
        )
        OR COALESCE(
          CASE
            WHEN COALESCE("t41"."lupus_anticoagulant_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t41"."lupus_anticoagulant_pos", 0) > 0
          END,
          FALSE
        )
      )
      THEN TRUE
      ELSE CASE
        WHEN (
          CASE
            WHEN COALESCE("t41"."anticardiolipin_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t41"."anticardiolipin_pos", 0) > 0
          END IS NULL
        )
        AND (
          CASE
            WHEN COALESCE("t41"."anti_b2gp1_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t41"."anti_b2gp1_pos", 0) > 0
          END IS NULL
        )
        AND (
          CASE
            WHEN COALESCE("t41"."lupus_anticoagulant_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t41"."lupus_anticoagulant_pos", 0) > 0
          END IS NULL
        )
        THEN CAST(NULL AS BOOLEAN)
        ELSE FALSE
      END
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "antiphospholipid",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN COALESCE("t41"."aiha_n", 0) > 0
    ELSE CAST(NULL AS BOOLEAN)
  END AS "autoimmune_hemolysis",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN "t41"."pregnant"
    ELSE CAST(NULL AS BOOLEAN)
  END AS "pregnant",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN "t41"."nlr"
    ELSE CAST(NULL AS DOUBLE)
  END AS "nlr",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN "t41"."sii"
    ELSE CAST(NULL AS DOUBLE)
  END AS "sii",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN "t41"."megakaryocytes"
    ELSE CAST(NULL AS DOUBLE)
  END AS "megakaryocytes",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN "t41"."megakaryocytes" < 20
    ELSE CAST(NULL AS BOOLEAN)
  END AS "megakaryocytes_below_20",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t41"."anti_tpo_receptor_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t41"."anti_tpo_receptor_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "anti_tpo_receptor",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t41"."antiplatelet_antibody_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t41"."antiplatelet_antibody_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "antiplatelet_antibody",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t41"."anti_sm_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t41"."anti_sm_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "anti_sm",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t41"."anti_ssa_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t41"."anti_ssa_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "anti_ssa",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN "t41"."hemoglobin"
    ELSE CAST(NULL AS DOUBLE)
  END AS "hemoglobin",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN COALESCE("t41"."history_lupus_nephritis", FALSE)
    OR (
      COALESCE("t41"."ln_n", 0) > 0
    )
    ELSE CAST(NULL AS BOOLEAN)
  END AS "lupus_nephritis",
  CASE
    WHEN NOT "t41"."index_date" IS NULL
    THEN CAST(COALESCE("t41"."who_max", 0) AS DOUBLE)
    ELSE CAST(NULL AS DOUBLE)
  END AS "who_bleeding_grade"
FROM (
  SELECT
    "t40".*
    EXCLUDE ("patient_id_right")
  FROM (
    SELECT
      "t39"."patient_id",
      "t39"."sex",
      "t39"."birth_date",
      "t39"."age_years",
      "t39"."pregnant",
      "t39"."weight_kg",
      "t39"."sle_diagnosis_date",
      "t39"."itp_diagnosis_date",
      "t39"."assessment_date",
      "t39"."history_antiphospholipid_syndrome",
      "t39"."history_thrombosis",
      "t39"."history_lupus_nephritis",
      "t39"."history_active_infection",
      "t39"."history_hepatitis_b",
      "t39"."history_splenectomy",
      "t39"."history_liver_disease",
      "t39"."seq",
      "t39"."baseline_platelets",
      "t39"."index_date",
      "t39"."first_line_agents",
      "t39"."c3",
      "t39"."c4",
      "t39"."c3_low",
      "t39"."c4_low",
      "t39"."hemoglobin",
      "t39"."megakaryocytes",
      "t39"."anticardiolipin_n",
      "t39"."anti_b2gp1_n",
      "t39"."lupus_anticoagulant_n",
      "t39"."anti_tpo_receptor_n",
      "t39"."antiplatelet_antibody_n",
      "t39"."anti_sm_n",
      "t39"."anti_ssa_n",
      "t39"."anticardiolipin_pos",
      "t39"."anti_b2gp1_pos",
      "t39"."lupus_anticoagulant_pos",
      "t39"."anti_tpo_receptor_pos",
      "t39"."antiplatelet_antibody_pos",
      "t39"."anti_sm_pos",
      "t39"."anti_ssa_pos",
      "t39"."nlr",
      "t39"."sii",
      "t39"."aiha_n",
      "t39"."ln_n",
      "t29"."patient_id" AS "patient_id_right",
      "t29"."who_max"
    FROM (
      SELECT
        "t37".*
        EXCLUDE ("patient_id_right")
      FROM (
        SELECT
          "t36"."patient_id",
          "t36"."sex",
          "t36"."birth_date",
          "t36"."age_years",
          "t36"."pregnant",
          "t36"."weight_kg",
          "t36"."sle_diagnosis_date",
          "t36"."itp_diagnosis_date",
          "t36"."assessment_date",
          "t36"."history_antiphospholipid_syndrome",
          "t36"."history_thrombosis",
          "t36"."history_lupus_nephritis",
          "t36"."history_active_infection",
          "t36"."history_hepatitis_b",
          "t36"."history_splenectomy",
          "t36"."history_liver_disease",
          "t36"."seq",
          "t36"."baseline_platelets",
          "t36"."index_date",
          "t36"."first_line_agents",
          "t36"."c3",
          "t36"."c4",
          "t36"."c3_low",
          "t36"."c4_low",
          "t36"."hemoglobin",
          "t36"."megakaryocytes",
          "t36"."anticardiolipin_n",
          "t36"."anti_b2gp1_n",
          "t36"."lupus_anticoagulant_n",
          "t36"."anti_tpo_receptor_n",
          "t36"."antiplatelet_antibody_n",
          "t36"."anti_sm_n",
          "t36"."anti_ssa_n",
          "t36"."anticardiolipin_pos",
          "t36"."anti_b2gp1_pos",
          "t36"."lupus_anticoagulant_pos",
          "t36"."anti_tpo_receptor_pos",
          "t36"."antiplatelet_antibody_pos",
          "t36"."anti_sm_pos",
          "t36"."anti_ssa_pos",
          "t36"."nlr",
          "t36"."sii",
          "t33"."patient_id" AS "patient_id_right",
          "t33"."aiha_n",
          "t33"."ln_n"
        FROM (
          SELECT
            "t34".*
            EXCLUDE ("patient_id_right")
          FROM (
            SELECT
              "t30"."patient_id",
              "t30"."sex",
              "t30"."birth_date",
              "t30"."age_years",
              "t30"."pregnant",
              "t30"."weight_kg",
              "t30"."sle_diagnosis_date",
              "t30"."itp_diagnosis_date",
              "t30"."assessment_date",
              "t30"."history_antiphospholipid_syndrome",
              "t30"."history_thrombosis",
              "t30"."history_lupus_nephritis",
              "t30"."history_active_infection",
              "t30"."history_hepatitis_b",
              "t30"."history_splenectomy",
              "t30"."history_liver_disease",
              "t30"."seq",
              "t30"."baseline_platelets",
              "t30"."index_date",
              "t30"."first_line_agents",
              "t30"."c3",
              "t30"."c4",
              "t30"."c3_low",
              "t30"."c4_low",
              "t30"."hemoglobin",
              "t30"."megakaryocytes",
              "t30"."anticardiolipin_n",
              "t30"."anti_b2gp1_n",
              "t30"."lupus_anticoagulant_n",
              "t30"."anti_tpo_receptor_n",
              "t30"."antiplatelet_antibody_n",
              "t30"."anti_sm_n",
              "t30"."anti_ssa_n",
              "t30"."anticardiolipin_pos",
              "t30"."anti_b2gp1_pos",
              "t30"."lupus_anticoagulant_pos",
              "t30"."anti_tpo_receptor_pos",
              "t30"."antiplatelet_antibody_pos",
              "t30"."anti_sm_pos",
              "t30"."anti_ssa_pos",
              "t32"."patient_id" AS "patient_id_right",
              "t32"."nlr",
              "t32"."sii"
            FROM (
              SELECT
                "t25".*
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
                  "t15"."patient_id" AS "patient_id_right",
                  "t15"."c3",
                  "t15"."c4",
                  "t15"."c3_low",
                  "t15"."c4_low",
                  "t15"."hemoglobin",
                  "t15"."megakaryocytes",
                  "t15"."anticardiolipin_n",
                  "t15"."anti_b2gp1_n",
                  "t15"."lupus_anticoagulant_n",
                  "t15"."anti_tpo_receptor_n",
                  "t15"."antiplatelet_antibody_n",
                  "t15"."anti_sm_n",
                  "t15"."anti_ssa_n",
                  "t15"."anticardiolipin_pos",
                  "t15"."anti_b2gp1_pos",
                  "t15"."lupus_anticoagulant_pos",
                  "t15"."anti_tpo_receptor_pos",
                  "t15"."antiplatelet_antibody_pos",
                  "t15"."anti_sm_pos",
                  "t15"."anti_ssa_pos"
                FROM (
                  SELECT
                    "t18".*
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
                      "t12"."patient_id" AS "patient_id_right",
                      "t12"."baseline_platelets",
                      "t12"."index_date",
                      "t12"."first_line_agents"
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
                    ) AS "t12"
                      ON "t6"."patient_id" = "t12"."patient_id"
                  ) AS "t18"
                ) AS "t21"
                LEFT OUTER JOIN (
                  SELECT
                    "t3"."patient_id",
                    ARG_MAX_NULL("t3"."value", "t3"."k") FILTER(WHERE
                      (
                        "t3"."test" = 'c3'
                      ) AND (
                        "t3"."ago" <= 90
                      )) AS "c3",
                    ARG_MAX_NULL("t3"."value", "t3"."k") FILTER(WHERE
                      (
                        "t3"."test" = 'c4'
                      ) AND (
                        "t3"."ago" <= 90
                      )) AS "c4",
                    ARG_MAX_NULL("t3"."reference_low", "t3"."k") FILTER(WHERE
                      (
                        "t3"."test" = 'c3'
                      ) AND (
                        "t3"."ago" <= 90
                      )) AS "c3_low",
                    ARG_MAX_NULL("t3"."reference_low", "t3"."k") FILTER(WHERE
                      (
                        "t3"."test" = 'c4'
                      ) AND (
                        "t3"."ago" <= 90
                      )) AS "c4_low",
                    ARG_MAX_NULL("t3"."value", "t3"."k") FILTER(WHERE
                      (
                        "t3"."test" = 'hemoglobin'
                      ) AND (
                        "t3"."ago" <= 90
                      )) AS "hemoglobin",
                    ARG_MAX_NULL("t3"."value", "t3"."k") FILTER(WHERE
                      (
                        "t3"."test" = 'megakaryocytes'
                      ) AND (
                        "t3"."ago" <= 90
                      )) AS "megakaryocytes",
                    SUM(CAST("t3"."test" = 'anticardiolipin' AS BIGINT)) AS "anticardiolipin_n",
                    SUM(CAST("t3"."test" = 'anti_b2gp1' AS BIGINT)) AS "anti_b2gp1_n",
                    SUM(CAST("t3"."test" = 'lupus_anticoagulant' AS BIGINT)) AS "lupus_anticoagulant_n",
                    SUM(CAST("t3"."test" = 'anti_tpo_receptor' AS BIGINT)) AS "anti_tpo_receptor_n",
                    SUM(CAST("t3"."test" = 'antiplatelet_antibody' AS BIGINT)) AS "antiplatelet_antibody_n",
                    SUM(CAST("t3"."test" = 'anti_sm' AS BIGINT)) AS "anti_sm_n",
                    SUM(CAST("t3"."test" = 'anti_ssa' AS BIGINT)) AS "anti_ssa_n",
                    SUM(
                      CAST((
                        "t3"."test" = 'anticardiolipin'
                      ) AND (
                        "t3"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anticardiolipin_pos",
                    SUM(
                      CAST((
                        "t3"."test" = 'anti_b2gp1'
                      ) AND (
                        "t3"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anti_b2gp1_pos",
                    SUM(
                      CAST((
                        "t3"."test" = 'lupus_anticoagulant'
                      ) AND (
                        "t3"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "lupus_anticoagulant_pos",
                    SUM(
                      CAST((
                        "t3"."test" = 'anti_tpo_receptor'
                      ) AND (
                        "t3"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anti_tpo_receptor_pos",
                    SUM(
                      CAST((
                        "t3"."test" = 'antiplatelet_antibody'
                      ) AND (
                        "t3"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "antiplatelet_antibody_pos",
                    SUM(
                      CAST((
                        "t3"."test" = 'anti_sm'
                      ) AND (
                        "t3"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anti_sm_pos",
                    SUM(
                      CAST((
                        "t3"."test" = 'anti_ssa'
                      ) AND (
                        "t3"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anti_ssa_pos"
                  FROM "sleitp_step_39" AS "t3"
                  GROUP BY
                    1
                ) AS "t15"
                  ON "t21"."patient_id" = "t15"."patient_id"
              ) AS "t25"
            ) AS "t30"
            LEFT OUTER JOIN (
              SELECT
                "t22"."patient_id",
                ARG_MAX_NULL("t22"."neu" / "t22"."lym", "t22"."date") AS "nlr",
                ARG_MAX_NULL((
                  "t22"."plt" * "t22"."neu"
                ) / "t22"."lym", "t22"."date") FILTER(WHERE
                  NOT "t22"."plt" IS NULL) AS "sii"
              FROM (
                SELECT
                  *
                FROM (
                  SELECT
                    "t10"."patient_id",
                    "t10"."date",
                    ARG_MAX_NULL("t10"."value", "t10"."k") FILTER(WHERE
                      "t10"."test" = 'neutrophils') AS "neu",
                    ARG_MAX_NULL("t10"."value", "t10"."k") FILTER(WHERE
                      "t10"."test" = 'lymphocytes') AS "lym",
                    ARG_MAX_NULL("t10"."value", "t10"."k") FILTER(WHERE
                      "t10"."test" = 'platelets') AS "plt"
                  FROM (
                    SELECT
                      *
                    FROM "sleitp_step_39" AS "t3"
                    WHERE
                      NOT "t3"."value" IS NULL
                      AND "t3"."test" IN ('neutrophils', 'lymphocytes', 'platelets')
                      AND "t3"."ago" <= 90
                  ) AS "t10"
                  GROUP BY
                    1,
                    2
                ) AS "t16"
                WHERE
                  NOT "t16"."neu" IS NULL AND "t16"."lym" > 0
              ) AS "t22"
              GROUP BY
                1
            ) AS "t32"
              ON "t30"."patient_id" = "t32"."patient_id"
          ) AS "t34"
        ) AS "t36"
        LEFT OUTER JOIN (
          SELECT
            "t23"."patient_id",
            SUM(CAST("t23"."name" = 'autoimmune_hemolysis' AS BIGINT)) AS "aiha_n",
            SUM(CAST("t23"."name" = 'lupus_nephritis' AS BIGINT)) AS "ln_n"
          FROM (
            SELECT
              *
            FROM (
              SELECT
                "t13"."patient_id",
                "t13"."date",
                "t13"."name",
                "t13"."nephritis_class",
                "t13"."seq",
                "t11"."index_date"
              FROM (
                SELECT
                  *
                FROM "sleitp_step_10" AS "t2"
                WHERE
                  "t2"."name" IN ('autoimmune_hemolysis', 'lupus_nephritis')
              ) AS "t13"
              INNER JOIN (
                SELECT
                  "t1"."patient_id",
                  "t1"."start" AS "index_date"
                FROM "sleitp_step_38" AS "t1"
                WHERE
                  "t1"."line" = 1
              ) AS "t11"
                ON "t13"."patient_id" = "t11"."patient_id"
            ) AS "t19"
            WHERE
              "t19"."date" <= "t19"."index_date"
          ) AS "t23"
          GROUP BY
            1
        ) AS "t33"
          ON "t36"."patient_id" = "t33"."patient_id"
      ) AS "t37"
    ) AS "t39"
    LEFT OUTER JOIN (
      SELECT
        "t24"."patient_id",
        MAX("t24"."who_grade") AS "who_max"
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
            "t11"."index_date"
          FROM "sleitp_step_9" AS "t5"
          INNER JOIN (
            SELECT
              "t1"."patient_id",
              "t1"."start" AS "index_date"
            FROM "sleitp_step_38" AS "t1"
            WHERE
              "t1"."line" = 1
          ) AS "t11"
            ON "t5"."patient_id" = "t11"."patient_id"
        ) AS "t17"
        WHERE
          "t17"."date" <= "t17"."index_date"
          AND "t17"."date" >= (
            "t17"."index_date" - INTERVAL '7' DAY
          )
      ) AS "t24"
      GROUP BY
        1
    ) AS "t29"
      ON "t39"."patient_id" = "t29"."patient_id"
  ) AS "t40"
) AS "t41";
