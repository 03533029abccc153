-- derive.derive_tables
SELECT
  "t2"."patient_id",
  "t2"."assessment_date" AS "at"
FROM (
  SELECT
    "t1".*
    EXCLUDE ("_why")
  FROM (
    SELECT
      "t0"."patient_id",
      "t0"."sex",
      "t0"."birth_date",
      "t0"."age_years",
      "t0"."pregnant",
      "t0"."weight_kg",
      "t0"."sle_diagnosis_date",
      "t0"."itp_diagnosis_date",
      "t0"."assessment_date",
      "t0"."history_antiphospholipid_syndrome",
      "t0"."history_thrombosis",
      "t0"."history_lupus_nephritis",
      "t0"."history_active_infection",
      "t0"."history_hepatitis_b",
      "t0"."history_splenectomy",
      "t0"."history_liver_disease",
      "t0"."seq",
      CASE
        WHEN "t0"."patient_id" IS NULL
        THEN 'patients: no patient_id'
        WHEN (
          NOT "t0"."sex" IS NULL
        )
        AND NOT (
          "t0"."sex" IN ('female', 'male', 'other', 'unknown')
        )
        THEN 'patients: sex not female/male/other/unknown'
        ELSE CAST(NULL AS TEXT)
      END AS "_why"
    FROM "sleitp_parquet_1" AS "t0"
    WHERE
      CASE
        WHEN "t0"."patient_id" IS NULL
        THEN 'patients: no patient_id'
        WHEN (
          NOT "t0"."sex" IS NULL
        )
        AND NOT (
          "t0"."sex" IN ('female', 'male', 'other', 'unknown')
        )
        THEN 'patients: sex not female/male/other/unknown'
        ELSE CAST(NULL AS TEXT)
      END IS NULL
  ) AS "t1"
) AS "t2";

-- derive.derive_tables
SELECT
  "t12"."patient_id",
  "t12"."date",
  MIN("t12"."platelets") AS "platelets",
  BOOL_OR(CAST("t12"."bleed" AS BOOLEAN)) AS "bleed"
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
  ) AS "t7"
  UNION ALL
  SELECT
    *
  FROM (
    SELECT
      "t10"."patient_id",
      "t10"."date",
      CAST(NULL AS DOUBLE) AS "platelets",
      TRUE AS "bleed"
    FROM (
      SELECT
        "t9"."patient_id",
        "t9"."date",
        "t9"."who_grade",
        "t9"."site",
        "t9"."seq",
        "t9"."_known",
        CASE
          WHEN "t9"."patient_id" IS NULL
          THEN 'bleeding: no patient_id'
          WHEN "t9"."_known" IS NULL
          THEN 'bleeding: patient_id not in the patients table'
          WHEN "t9"."date" IS NULL
          THEN 'bleeding: no date'
          WHEN (
            "t9"."who_grade" IS NULL
          )
          OR (
            "t9"."who_grade" < 0
          )
          OR (
            "t9"."who_grade" > 4
          )
          THEN 'bleeding: who_grade not 0-4'
          ELSE CAST(NULL AS TEXT)
        END AS "_why"
      FROM (
        SELECT
          "t8".*
          EXCLUDE ("patient_id_right")
        FROM (
          SELECT
            "t4"."patient_id",
            "t4"."date",
            "t4"."who_grade",
            "t4"."site",
            "t4"."seq",
            "t6"."patient_id" AS "patient_id_right",
            "t6"."_known"
          FROM (
            SELECT
              *
            FROM "sleitp_parquet_4" AS "t1"
          ) AS "t4"
          LEFT OUTER JOIN (
            SELECT
              "t2"."patient_id",
              TRUE AS "_known"
            FROM "sleitp_parquet_1" AS "t2"
            WHERE
              NOT "t2"."patient_id" IS NULL
          ) AS "t6"
            ON "t4"."patient_id" = "t6"."patient_id"
        ) AS "t8"
      ) AS "t9"
    ) AS "t10"
    WHERE
      "t10"."_why" IS NULL AND "t10"."who_grade" >= 1
  ) AS "t11"
) AS "t12"
GROUP BY
  1,
  2;

-- derive.derive_tables
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
  FROM "sleitp_step_31" AS "t7"
  INNER JOIN (
    SELECT
      *
    FROM "sleitp_step_33" AS "t0"
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
              FROM "sleitp_step_28" AS "t5"
              LEFT OUTER JOIN "sleitp_step_30" AS "t6"
                ON "t5"."lk" = "t6"."lk"
            ) AS "t10"
          ) AS "t12"
          LEFT OUTER JOIN "sleitp_step_33" AS "t4"
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

-- derive.derive_tables
SELECT
  "t56"."patient_id",
  "t56"."index_date",
  "t56"."first_line_agents",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN CASE
      WHEN NOT "t56"."birth_date" IS NULL
      THEN CAST(DATE_DIFF('DAY', "t56"."birth_date", "t56"."index_date") AS DOUBLE) / 365.25
      ELSE "t56"."age_years"
    END
    ELSE CAST(NULL AS DOUBLE)
  END AS "age_years",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN CASE
      WHEN "t56"."sex" IN ('male', 'female')
      THEN "t56"."sex" = 'male'
      ELSE CAST(NULL AS BOOLEAN)
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "male",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN "t56"."baseline_platelets"
    ELSE CAST(NULL AS DOUBLE)
  END AS "baseline_platelets",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN "t56"."baseline_platelets" < 20
    ELSE CAST(NULL AS BOOLEAN)
  END AS "platelets_below_20",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN "t56"."c3"
    ELSE CAST(NULL AS DOUBLE)
  END AS "c3",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN "t56"."c3" < COALESCE("t56"."c3_low", 0.9)
    ELSE CAST(NULL AS BOOLEAN)
  END AS "low_c3",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN "t56"."c4" < COALESCE("t56"."c4_low", 0.16)
    ELSE CAST(NULL AS BOOLEAN)
  END AS "low_c4",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t56"."anticardiolipin_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t56"."anticardiolipin_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "anticardiolipin",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t56"."history_antiphospholipid_syndrome", FALSE)
      OR (
        COALESCE(
          CASE
            WHEN COALESCE("t56"."anticardiolipin_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t56"."anticardiolipin_pos", 0) > 0
          END,
          FALSE
        )
        OR COALESCE(
          CASE
            WHEN COALESCE("t56"."anti_b2gp1_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t56"."anti_b2gp1_pos", 0) > 0
          END,
          FALSE
        )
        OR COALESCE(
          CASE
            WHEN COALESCE("t56"."lupus_anticoagulant_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t56"."lupus_anticoagulant_pos", 0) > 0
          END,
          FALSE
        )
      )
      THEN TRUE
      ELSE CASE
        WHEN (
          CASE
            WHEN COALESCE("t56"."anticardiolipin_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t56"."anticardiolipin_pos", 0) > 0
          END IS NULL
        )
        AND (
          CASE
            WHEN COALESCE("t56"."anti_b2gp1_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t56"."anti_b2gp1_pos", 0) > 0
          END IS NULL
        )
        AND (
          CASE
            WHEN COALESCE("t56"."lupus_anticoagulant_n", 0) = 0
            THEN CAST(NULL AS BOOLEAN)
            ELSE COALESCE("t56"."lupus_anticoagulant_pos", 0) > 0
          END IS NULL
        )
        THEN CAST(NULL AS BOOLEAN)
        ELSE FALSE
      END
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "antiphospholipid",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN COALESCE("t56"."aiha_n", 0) > 0
    ELSE CAST(NULL AS BOOLEAN)
  END AS "autoimmune_hemolysis",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN "t56"."pregnant"
    ELSE CAST(NULL AS BOOLEAN)
  END AS "pregnant",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN "t56"."nlr"
    ELSE CAST(NULL AS DOUBLE)
  END AS "nlr",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN "t56"."sii"
    ELSE CAST(NULL AS DOUBLE)
  END AS "sii",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN "t56"."megakaryocytes"
    ELSE CAST(NULL AS DOUBLE)
  END AS "megakaryocytes",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN "t56"."megakaryocytes" < 20
    ELSE CAST(NULL AS BOOLEAN)
  END AS "megakaryocytes_below_20",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t56"."anti_tpo_receptor_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t56"."anti_tpo_receptor_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "anti_tpo_receptor",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t56"."antiplatelet_antibody_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t56"."antiplatelet_antibody_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "antiplatelet_antibody",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t56"."anti_sm_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t56"."anti_sm_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "anti_sm",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN CASE
      WHEN COALESCE("t56"."anti_ssa_n", 0) = 0
      THEN CAST(NULL AS BOOLEAN)
      ELSE COALESCE("t56"."anti_ssa_pos", 0) > 0
    END
    ELSE CAST(NULL AS BOOLEAN)
  END AS "anti_ssa",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN "t56"."hemoglobin"
    ELSE CAST(NULL AS DOUBLE)
  END AS "hemoglobin",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN COALESCE("t56"."history_lupus_nephritis", FALSE)
    OR (
      COALESCE("t56"."ln_n", 0) > 0
    )
    ELSE CAST(NULL AS BOOLEAN)
  END AS "lupus_nephritis",
  CASE
    WHEN NOT "t56"."index_date" IS NULL
    THEN CAST(COALESCE("t56"."who_max", 0) AS DOUBLE)
    ELSE CAST(NULL AS DOUBLE)
  END AS "who_bleeding_grade"
FROM (
  SELECT
    "t55".*
    EXCLUDE ("patient_id_right")
  FROM (
    SELECT
      "t54"."patient_id",
      "t54"."sex",
      "t54"."birth_date",
      "t54"."age_years",
      "t54"."pregnant",
      "t54"."weight_kg",
      "t54"."sle_diagnosis_date",
      "t54"."itp_diagnosis_date",
      "t54"."assessment_date",
      "t54"."history_antiphospholipid_syndrome",
      "t54"."history_thrombosis",
      "t54"."history_lupus_nephritis",
      "t54"."history_active_infection",
      "t54"."history_hepatitis_b",
      "t54"."history_splenectomy",
      "t54"."history_liver_disease",
      "t54"."seq",
      "t54"."baseline_platelets",
      "t54"."index_date",
      "t54"."first_line_agents",
      "t54"."c3",
      "t54"."c4",
      "t54"."c3_low",
      "t54"."c4_low",
      "t54"."hemoglobin",
      "t54"."megakaryocytes",
      "t54"."anticardiolipin_n",
      "t54"."anti_b2gp1_n",
      "t54"."lupus_anticoagulant_n",
      "t54"."anti_tpo_receptor_n",
      "t54"."antiplatelet_antibody_n",
      "t54"."anti_sm_n",
      "t54"."anti_ssa_n",
      "t54"."anticardiolipin_pos",
      "t54"."anti_b2gp1_pos",
      "t54"."lupus_anticoagulant_pos",
      "t54"."anti_tpo_receptor_pos",
      "t54"."antiplatelet_antibody_pos",
      "t54"."anti_sm_pos",
      "t54"."anti_ssa_pos",
      "t54"."nlr",
      "t54"."sii",
      "t54"."aiha_n",
      "t54"."ln_n",
      "t50"."patient_id" AS "patient_id_right",
      "t50"."who_max"
    FROM (
      SELECT
        "t52".*
        EXCLUDE ("patient_id_right")
      FROM (
        SELECT
          "t47"."patient_id",
          "t47"."sex",
          "t47"."birth_date",
          "t47"."age_years",
          "t47"."pregnant",
          "t47"."weight_kg",
          "t47"."sle_diagnosis_date",
          "t47"."itp_diagnosis_date",
          "t47"."assessment_date",
          "t47"."history_antiphospholipid_syndrome",
          "t47"."history_thrombosis",
          "t47"."history_lupus_nephritis",
          "t47"."history_active_infection",
          "t47"."history_hepatitis_b",
          "t47"."history_splenectomy",
          "t47"."history_liver_disease",
          "t47"."seq",
          "t47"."baseline_platelets",
          "t47"."index_date",
          "t47"."first_line_agents",
          "t47"."c3",
          "t47"."c4",
          "t47"."c3_low",
          "t47"."c4_low",
          "t47"."hemoglobin",
          "t47"."megakaryocytes",
          "t47"."anticardiolipin_n",
          "t47"."anti_b2gp1_n",
          "t47"."lupus_anticoagulant_n",
          "t47"."anti_tpo_receptor_n",
          "t47"."antiplatelet_antibody_n",
          "t47"."anti_sm_n",
          "t47"."anti_ssa_n",
          "t47"."anticardiolipin_pos",
          "t47"."anti_b2gp1_pos",
          "t47"."lupus_anticoagulant_pos",
          "t47"."anti_tpo_receptor_pos",
          "t47"."antiplatelet_antibody_pos",
          "t47"."anti_sm_pos",
          "t47"."anti_ssa_pos",
          "t47"."nlr",
          "t47"."sii",
          "t51"."patient_id" AS "patient_id_right",
          "t51"."aiha_n",
          "t51"."ln_n"
        FROM (
          SELECT
            "t44".*
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
              "t33"."patient_id" AS "patient_id_right",
              "t33"."nlr",
              "t33"."sii"
            FROM (
              SELECT
                "t38".*
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
                  "t17"."patient_id" AS "patient_id_right",
                  "t17"."c3",
                  "t17"."c4",
                  "t17"."c3_low",
                  "t17"."c4_low",
                  "t17"."hemoglobin",
                  "t17"."megakaryocytes",
                  "t17"."anticardiolipin_n",
                  "t17"."anti_b2gp1_n",
                  "t17"."lupus_anticoagulant_n",
                  "t17"."anti_tpo_receptor_n",
                  "t17"."antiplatelet_antibody_n",
                  "t17"."anti_sm_n",
                  "t17"."anti_ssa_n",
                  "t17"."anticardiolipin_pos",
                  "t17"."anti_b2gp1_pos",
                  "t17"."lupus_anticoagulant_pos",
                  "t17"."anti_tpo_receptor_pos",
                  "t17"."antiplatelet_antibody_pos",
                  "t17"."anti_sm_pos",
                  "t17"."anti_ssa_pos"
                FROM (
                  SELECT
                    "t27".*
                    EXCLUDE ("patient_id_right")
                  FROM (
                    SELECT
                      "t25"."patient_id",
                      "t25"."sex",
                      "t25"."birth_date",
                      "t25"."age_years",
                      "t25"."pregnant",
                      "t25"."weight_kg",
                      "t25"."sle_diagnosis_date",
                      "t25"."itp_diagnosis_date",
                      "t25"."assessment_date",
                      "t25"."history_antiphospholipid_syndrome",
                      "t25"."history_thrombosis",
                      "t25"."history_lupus_nephritis",
                      "t25"."history_active_infection",
                      "t25"."history_hepatitis_b",
                      "t25"."history_splenectomy",
                      "t25"."history_liver_disease",
                      "t25"."seq",
                      "t14"."patient_id" AS "patient_id_right",
                      "t14"."baseline_platelets",
                      "t14"."index_date",
                      "t14"."first_line_agents"
                    FROM (
                      SELECT
                        "t19".*
                        EXCLUDE ("_why")
                      FROM (
                        SELECT
                          "t3"."patient_id",
                          "t3"."sex",
                          "t3"."birth_date",
                          "t3"."age_years",
                          "t3"."pregnant",
                          "t3"."weight_kg",
                          "t3"."sle_diagnosis_date",
                          "t3"."itp_diagnosis_date",
                          "t3"."assessment_date",
                          "t3"."history_antiphospholipid_syndrome",
                          "t3"."history_thrombosis",
                          "t3"."history_lupus_nephritis",
                          "t3"."history_active_infection",
                          "t3"."history_hepatitis_b",
                          "t3"."history_splenectomy",
                          "t3"."history_liver_disease",
                          "t3"."seq",
                          CASE
                            WHEN "t3"."patient_id" IS NULL
                            THEN 'patients: no patient_id'
                            WHEN (
                              NOT "t3"."sex" IS NULL
                            )
                            AND NOT (
                              "t3"."sex" IN ('female', 'male', 'other', 'unknown')
                            )
                            THEN 'patients: sex not female/male/other/unknown'
                            ELSE CAST(NULL AS TEXT)
                          END AS "_why"
                        FROM "sleitp_parquet_1" AS "t3"
                        WHERE
                          CASE
                            WHEN "t3"."patient_id" IS NULL
                            THEN 'patients: no patient_id'
                            WHEN (
                              NOT "t3"."sex" IS NULL
                            )
                            AND NOT (
                              "t3"."sex" IN ('female', 'male', 'other', 'unknown')
                            )
                            THEN 'patients: sex not female/male/other/unknown'
                            ELSE CAST(NULL AS TEXT)
                          END IS NULL
                      ) AS "t19"
                    ) AS "t25"
                    LEFT OUTER JOIN (
                      SELECT
                        "t0"."patient_id",
                        "t0"."baseline_platelets",
                        "t0"."start" AS "index_date",
                        "t0"."agents" AS "first_line_agents"
                      FROM "sleitp_step_34" AS "t0"
                      WHERE
                        "t0"."line" = 1
                    ) AS "t14"
                      ON "t25"."patient_id" = "t14"."patient_id"
                  ) AS "t27"
                ) AS "t32"
                LEFT OUTER JOIN (
                  SELECT
                    "t1"."patient_id",
                    ARG_MAX_NULL("t1"."value", "t1"."k") FILTER(WHERE
                      (
                        "t1"."test" = 'c3'
                      ) AND (
                        "t1"."ago" <= 90
                      )) AS "c3",
                    ARG_MAX_NULL("t1"."value", "t1"."k") FILTER(WHERE
                      (
                        "t1"."test" = 'c4'
                      ) AND (
                        "t1"."ago" <= 90
                      )) AS "c4",
                    ARG_MAX_NULL("t1"."reference_low", "t1"."k") FILTER(WHERE
                      (
                        "t1"."test" = 'c3'
                      ) AND (
                        "t1"."ago" <= 90
                      )) AS "c3_low",
                    ARG_MAX_NULL("t1"."reference_low", "t1"."k") FILTER(WHERE
                      (
                        "t1"."test" = 'c4'
                      ) AND (
                        "t1"."ago" <= 90
                      )) AS "c4_low",
                    ARG_MAX_NULL("t1"."value", "t1"."k") FILTER(WHERE
                      (
                        "t1"."test" = 'hemoglobin'
                      ) AND (
                        "t1"."ago" <= 90
                      )) AS "hemoglobin",
                    ARG_MAX_NULL("t1"."value", "t1"."k") FILTER(WHERE
                      (
                        "t1"."test" = 'megakaryocytes'
                      ) AND (
                        "t1"."ago" <= 90
                      )) AS "megakaryocytes",
                    SUM(CAST("t1"."test" = 'anticardiolipin' AS BIGINT)) AS "anticardiolipin_n",
                    SUM(CAST("t1"."test" = 'anti_b2gp1' AS BIGINT)) AS "anti_b2gp1_n",
                    SUM(CAST("t1"."test" = 'lupus_anticoagulant' AS BIGINT)) AS "lupus_anticoagulant_n",
                    SUM(CAST("t1"."test" = 'anti_tpo_receptor' AS BIGINT)) AS "anti_tpo_receptor_n",
                    SUM(CAST("t1"."test" = 'antiplatelet_antibody' AS BIGINT)) AS "antiplatelet_antibody_n",
                    SUM(CAST("t1"."test" = 'anti_sm' AS BIGINT)) AS "anti_sm_n",
                    SUM(CAST("t1"."test" = 'anti_ssa' AS BIGINT)) AS "anti_ssa_n",
                    SUM(
                      CAST((
                        "t1"."test" = 'anticardiolipin'
                      ) AND (
                        "t1"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anticardiolipin_pos",
                    SUM(
                      CAST((
                        "t1"."test" = 'anti_b2gp1'
                      ) AND (
                        "t1"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anti_b2gp1_pos",
                    SUM(
                      CAST((
                        "t1"."test" = 'lupus_anticoagulant'
                      ) AND (
                        "t1"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "lupus_anticoagulant_pos",
                    SUM(
                      CAST((
                        "t1"."test" = 'anti_tpo_receptor'
                      ) AND (
                        "t1"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anti_tpo_receptor_pos",
                    SUM(
                      CAST((
                        "t1"."test" = 'antiplatelet_antibody'
                      ) AND (
                        "t1"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "antiplatelet_antibody_pos",
                    SUM(
                      CAST((
                        "t1"."test" = 'anti_sm'
                      ) AND (
                        "t1"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anti_sm_pos",
                    SUM(
                      CAST((
                        "t1"."test" = 'anti_ssa'
                      ) AND (
                        "t1"."result" = 'positive'
                      ) AS BIGINT)
                    ) AS "anti_ssa_pos"
                  FROM "sleitp_step_35" AS "t1"
                  GROUP BY
                    1
                ) AS "t17"
                  ON "t32"."patient_id" = "t17"."patient_id"
              ) AS "t38"
            ) AS "t40"
            LEFT OUTER JOIN (
              SELECT
                "t26"."patient_id",
                ARG_MAX_NULL("t26"."neu" / "t26"."lym", "t26"."date") AS "nlr",
                ARG_MAX_NULL((
                  "t26"."plt" * "t26"."neu"
                ) / "t26"."lym", "t26"."date") FILTER(WHERE
                  NOT "t26"."plt" IS NULL) AS "sii"
              FROM (
                SELECT
                  *
                FROM (
                  SELECT
                    "t9"."patient_id",
                    "t9"."date",
                    ARG_MAX_NULL("t9"."value", "t9"."k") FILTER(WHERE
                      "t9"."test" = 'neutrophils') AS "neu",
                    ARG_MAX_NULL("t9"."value", "t9"."k") FILTER(WHERE
                      "t9"."test" = 'lymphocytes') AS "lym",
                    ARG_MAX_NULL("t9"."value", "t9"."k") FILTER(WHERE
                      "t9"."test" = 'platelets') AS "plt"
                  FROM (
                    SELECT
                      *
                    FROM "sleitp_step_35" AS "t1"
                    WHERE
                      NOT "t1"."value" IS NULL
                      AND "t1"."test" IN ('neutrophils', 'lymphocytes', 'platelets')
                      AND "t1"."ago" <= 90
                  ) AS "t9"
                  GROUP BY
                    1,
                    2
                ) AS "t18"
                WHERE
                  NOT "t18"."neu" IS NULL AND "t18"."lym" > 0
              ) AS "t26"
              GROUP BY
                1
            ) AS "t33"
              ON "t40"."patient_id" = "t33"."patient_id"
          ) AS "t44"
        ) AS "t47"
        LEFT OUTER JOIN (
          SELECT
            "t43"."patient_id",
            SUM(CAST("t43"."name" = 'autoimmune_hemolysis' AS BIGINT)) AS "aiha_n",
            SUM(CAST("t43"."name" = 'lupus_nephritis' AS BIGINT)) AS "ln_n"
          FROM (
            SELECT
              *
            FROM (
              SELECT
                "t36"."patient_id",
                "t36"."date",
                "t36"."name",
                "t36"."nephritis_class",
                "t36"."seq",
                "t13"."index_date"
              FROM (
                SELECT
                  "t28"."patient_id",
                  "t28"."date",
                  "t28"."name",
                  "t28"."nephritis_class",
                  "t28"."seq"
                FROM (
                  SELECT
                    "t24"."patient_id",
                    "t24"."date",
                    "t24"."name",
                    "t24"."nephritis_class",
                    "t24"."seq",
                    "t24"."_known",
                    CASE
                      WHEN "t24"."patient_id" IS NULL
                      THEN 'manifestations: no patient_id'
                      WHEN "t24"."_known" IS NULL
                      THEN 'manifestations: patient_id not in the patients table'
                      WHEN "t24"."date" IS NULL
                      THEN 'manifestations: no date'
                      WHEN NOT (
                        "t24"."name" IN (
                          'seizure',
                          'psychosis',
                          'organic_brain_syndrome',
                          'delirium',
                          'visual_disturbance',
                          'cranial_nerve_disorder',
                          'lupus_headache',
                          'cva',
                          'vasculitis',
                          'arthritis',
                          'myositis',
                          'urinary_casts',
                          'rash',
                          'alopecia',
                          'non_scarring_alopecia',
                          'mucosal_ulcers',
                          'oral_ulcers',
                          'pleurisy',
                          'pericarditis',
                          'pleural_effusion',
                          'pericardial_effusion',
                          'acute_pericarditis',
                          'fever',
                          'acute_cutaneous_lupus',
                          'subacute_cutaneous_lupus',
                          'discoid_lupus',
                          'joint_involvement',
                          'autoimmune_hemolysis',
                          'lupus_nephritis'
                        )
                      )
                      THEN 'manifestations: name not in the record vocabulary'
                      ELSE CAST(NULL AS TEXT)
                    END AS "_why"
                  FROM (
                    SELECT
                      "t21".*
                      EXCLUDE ("patient_id_right")
                    FROM (
                      SELECT
                        "t12"."patient_id",
                        "t12"."date",
                        "t12"."name",
                        "t12"."nephritis_class",
                        "t12"."seq",
                        "t15"."patient_id" AS "patient_id_right",
                        "t15"."_known"
                      FROM (
                        SELECT
                          *
                        FROM "sleitp_parquet_5" AS "t4"
                      ) AS "t12"
                      LEFT OUTER JOIN (
                        SELECT
                          "t3"."patient_id",
                          TRUE AS "_known"
                        FROM "sleitp_parquet_1" AS "t3"
                        WHERE
                          NOT "t3"."patient_id" IS NULL
                      ) AS "t15"
                        ON "t12"."patient_id" = "t15"."patient_id"
                    ) AS "t21"
                  ) AS "t24"
                ) AS "t28"
                WHERE
                  "t28"."_why" IS NULL
                  AND "t28"."name" IN ('autoimmune_hemolysis', 'lupus_nephritis')
              ) AS "t36"
              INNER JOIN (
                SELECT
                  "t0"."patient_id",
                  "t0"."start" AS "index_date"
                FROM "sleitp_step_34" AS "t0"
                WHERE
                  "t0"."line" = 1
              ) AS "t13"
                ON "t36"."patient_id" = "t13"."patient_id"
            ) AS "t41"
            WHERE
              "t41"."date" <= "t41"."index_date"
          ) AS "t43"
          GROUP BY
            1
        ) AS "t51"
          ON "t47"."patient_id" = "t51"."patient_id"
      ) AS "t52"
    ) AS "t54"
    LEFT OUTER JOIN (
      SELECT
        "t46"."patient_id",
        MAX("t46"."who_grade") AS "who_max"
      FROM (
        SELECT
          *
        FROM (
          SELECT
            "t37"."patient_id",
            "t37"."date",
            "t37"."who_grade",
            "t37"."site",
            "t37"."seq",
            "t13"."index_date"
          FROM (
            SELECT
              "t31"."patient_id",
              "t31"."date",
              "t31"."who_grade",
              "t31"."site",
              "t31"."seq"
            FROM (
              SELECT
                "t23"."patient_id",
                "t23"."date",
                "t23"."who_grade",
                "t23"."site",
                "t23"."seq",
                "t23"."_known",
                CASE
                  WHEN "t23"."patient_id" IS NULL
                  THEN 'bleeding: no patient_id'
                  WHEN "t23"."_known" IS NULL
                  THEN 'bleeding: patient_id not in the patients table'
                  WHEN "t23"."date" IS NULL
                  THEN 'bleeding: no date'
                  WHEN (
                    "t23"."who_grade" IS NULL
                  )
                  OR (
                    "t23"."who_grade" < 0
                  )
                  OR (
                    "t23"."who_grade" > 4
                  )
                  THEN 'bleeding: who_grade not 0-4'
                  ELSE CAST(NULL AS TEXT)
                END AS "_why"
              FROM (
                SELECT
                  "t20".*
                  EXCLUDE ("patient_id_right")
                FROM (
                  SELECT
                    "t10"."patient_id",
                    "t10"."date",
                    "t10"."who_grade",
                    "t10"."site",
                    "t10"."seq",
                    "t15"."patient_id" AS "patient_id_right",
                    "t15"."_known"
                  FROM (
                    SELECT
                      *
                    FROM "sleitp_parquet_4" AS "t2"
                  ) AS "t10"
                  LEFT OUTER JOIN (
                    SELECT
                      "t3"."patient_id",
                      TRUE AS "_known"
                    FROM "sleitp_parquet_1" AS "t3"
                    WHERE
                      NOT "t3"."patient_id" IS NULL
                  ) AS "t15"
                    ON "t10"."patient_id" = "t15"."patient_id"
                ) AS "t20"
              ) AS "t23"
            ) AS "t31"
            WHERE
              "t31"."_why" IS NULL
          ) AS "t37"
          INNER JOIN (
            SELECT
              "t0"."patient_id",
              "t0"."start" AS "index_date"
            FROM "sleitp_step_34" AS "t0"
            WHERE
              "t0"."line" = 1
          ) AS "t13"
            ON "t37"."patient_id" = "t13"."patient_id"
        ) AS "t42"
        WHERE
          "t42"."date" <= "t42"."index_date"
          AND "t42"."date" >= (
            "t42"."index_date" - INTERVAL '7' DAY
          )
      ) AS "t46"
      GROUP BY
        1
    ) AS "t50"
      ON "t54"."patient_id" = "t50"."patient_id"
  ) AS "t55"
) AS "t56";
