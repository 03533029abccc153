-- checks.checked_tables
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
) AS "t1";

-- checks.checked_tables
SELECT
  "t9".*
  EXCLUDE ("_known", "_why")
FROM (
  SELECT
    *
  FROM (
    SELECT
      "t7"."patient_id",
      "t7"."agent",
      "t7"."start",
      "t7"."end",
      "t7"."dose",
      "t7"."dose_unit",
      "t7"."frequency",
      "t7"."route",
      "t7"."indication",
      "t7"."seq",
      "t7"."_known",
      CASE
        WHEN "t7"."patient_id" IS NULL
        THEN 'treatments: no patient_id'
        WHEN "t7"."_known" IS NULL
        THEN 'treatments: patient_id not in the patients table'
        WHEN "t7"."start" IS NULL
        THEN 'treatments: no start'
        WHEN NOT (
          "t7"."agent" IN (
            'prednisone',
            'prednisolone',
            'methylprednisolone',
            'dexamethasone',
            'hydrocortisone',
            'ivig',
            'hydroxychloroquine',
            'mycophenolate',
            'azathioprine',
            'cyclosporine',
            'tacrolimus',
            'cyclophosphamide',
            'danazol',
            'sirolimus',
            'rituximab',
            'belimumab',
            'telitacicept',
            'daratumumab',
            'bortezomib',
            'eltrombopag',
            'romiplostim',
            'avatrombopag',
            'hetrombopag',
            'rhtpo',
            'fostamatinib',
            'rilzabrutinib',
            'efgartigimod',
            'oseltamivir',
            'splenectomy',
            'platelet_transfusion',
            'anifrolumab',
            'obinutuzumab',
            'voclosporin',
            'cd19_car_t',
            'tranexamic_acid',
            'vincristine',
            'heparin',
            'lmwh',
            'warfarin',
            'doac',
            'aspirin',
            'clopidogrel'
          )
        )
        THEN 'treatments: agent not in the record vocabulary (spec/record.md)'
        WHEN (
          NOT "t7"."end" IS NULL
        ) AND (
          "t7"."end" < "t7"."start"
        )
        THEN 'treatments: end before start'
        WHEN (
          NOT "t7"."indication" IS NULL
        )
        AND NOT (
          "t7"."indication" IN ('itp', 'sle', 'other')
        )
        THEN 'treatments: indication not itp/sle/other'
        ELSE CAST(NULL AS TEXT)
      END AS "_why"
    FROM (
      SELECT
        "t6".*
        EXCLUDE ("patient_id_right")
      FROM (
        SELECT
          "t3"."patient_id",
          "t3"."agent",
          "t3"."start",
          "t3"."end",
          "t3"."dose",
          "t3"."dose_unit",
          "t3"."frequency",
          "t3"."route",
          "t3"."indication",
          "t3"."seq",
          "t5"."patient_id" AS "patient_id_right",
          "t5"."_known"
        FROM (
          SELECT
            "t0"."patient_id",
            "t0"."agent",
            "t0"."start",
            "t0"."end",
            "t0"."dose",
            "t0"."dose_unit",
            "t0"."frequency",
            "t0"."route",
            CAST(NULL AS TEXT) AS "indication",
            "t0"."seq"
          FROM "sleitp_parquet_3" AS "t0"
        ) AS "t3"
        LEFT OUTER JOIN (
          SELECT
            "t1"."patient_id",
            TRUE AS "_known"
          FROM "sleitp_parquet_1" AS "t1"
          WHERE
            NOT "t1"."patient_id" IS NULL
        ) AS "t5"
          ON "t3"."patient_id" = "t5"."patient_id"
      ) AS "t6"
    ) AS "t7"
  ) AS "t8"
  WHERE
    "t8"."_why" IS NULL
) AS "t9";

-- checks.checked_tables
SELECT
  "t8"."patient_id",
  "t8"."date",
  "t8"."who_grade",
  "t8"."site",
  "t8"."seq"
FROM (
  SELECT
    "t7"."patient_id",
    "t7"."date",
    "t7"."who_grade",
    "t7"."site",
    "t7"."seq",
    "t7"."_known",
    CASE
      WHEN "t7"."patient_id" IS NULL
      THEN 'bleeding: no patient_id'
      WHEN "t7"."_known" IS NULL
      THEN 'bleeding: patient_id not in the patients table'
      WHEN "t7"."date" IS NULL
      THEN 'bleeding: no date'
      WHEN (
        "t7"."who_grade" IS NULL
      )
      OR (
        "t7"."who_grade" < 0
      )
      OR (
        "t7"."who_grade" > 4
      )
      THEN 'bleeding: who_grade not 0-4'
      ELSE CAST(NULL AS TEXT)
    END AS "_why"
  FROM (
    SELECT
      "t6".*
      EXCLUDE ("patient_id_right")
    FROM (
      SELECT
        "t3"."patient_id",
        "t3"."date",
        "t3"."who_grade",
        "t3"."site",
        "t3"."seq",
        "t5"."patient_id" AS "patient_id_right",
        "t5"."_known"
      FROM (
        SELECT
          *
        FROM "sleitp_parquet_4" AS "t0"
      ) AS "t3"
      LEFT OUTER JOIN (
        SELECT
          "t1"."patient_id",
          TRUE AS "_known"
        FROM "sleitp_parquet_1" AS "t1"
        WHERE
          NOT "t1"."patient_id" IS NULL
      ) AS "t5"
        ON "t3"."patient_id" = "t5"."patient_id"
    ) AS "t6"
  ) AS "t7"
) AS "t8"
WHERE
  "t8"."_why" IS NULL;

-- checks.checked_tables
SELECT
  "t8"."patient_id",
  "t8"."date",
  "t8"."name",
  "t8"."nephritis_class",
  "t8"."seq"
FROM (
  SELECT
    "t7"."patient_id",
    "t7"."date",
    "t7"."name",
    "t7"."nephritis_class",
    "t7"."seq",
    "t7"."_known",
    CASE
      WHEN "t7"."patient_id" IS NULL
      THEN 'manifestations: no patient_id'
      WHEN "t7"."_known" IS NULL
      THEN 'manifestations: patient_id not in the patients table'
      WHEN "t7"."date" IS NULL
      THEN 'manifestations: no date'
      WHEN NOT (
        "t7"."name" IN (
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
      "t6".*
      EXCLUDE ("patient_id_right")
    FROM (
      SELECT
        "t3"."patient_id",
        "t3"."date",
        "t3"."name",
        "t3"."nephritis_class",
        "t3"."seq",
        "t5"."patient_id" AS "patient_id_right",
        "t5"."_known"
      FROM (
        SELECT
          *
        FROM "sleitp_parquet_5" AS "t0"
      ) AS "t3"
      LEFT OUTER JOIN (
        SELECT
          "t1"."patient_id",
          TRUE AS "_known"
        FROM "sleitp_parquet_1" AS "t1"
        WHERE
          NOT "t1"."patient_id" IS NULL
      ) AS "t5"
        ON "t3"."patient_id" = "t5"."patient_id"
    ) AS "t6"
  ) AS "t7"
) AS "t8"
WHERE
  "t8"."_why" IS NULL;
