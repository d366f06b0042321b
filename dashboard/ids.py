"""Every Dash component id used by the dashboard, in one place (ARCHITECTURE convention 7).

One section per page. Ids are page-prefixed so two pages never collide.
"""

# app shell
NAV = "nav"
URL = "url"                          # dcc.Location used by callbacks that navigate (run selector)
PAGE_TITLE = "page-title"
MODEL_HEADER = "model-header"        # model name, dataset, run, verdict on every model page
MODEL_TABS = "model-tabs"            # Performance | Fairness | Explanations | Quality | Runs | Report
RUN_SELECT = "run-select"            # dropdown of this model's runs; changing it navigates to ?run=

# home
HOME_MODELS = "home-models"
HOME_HISTORY = "home-history"

# 404
NOT_FOUND = "not-found"

# --- fairness page ---
FAIRNESS_STATE = "fairness-state"          # dcc.Store: {"model", "run_id"} for this user's view
FAIRNESS_ATTRIBUTE = "fairness-attribute"  # dropdown of sensitive attributes / cohorts / intersections
FAIRNESS_REFERENCE = "fairness-reference"  # text naming the reference group
FAIRNESS_TABLE = "fairness-group-table"
FAIRNESS_IMPACT = "fairness-impact-chart"
FAIRNESS_RATES = "fairness-rates-chart"
# --- end fairness page ---

# --- performance page ---
PERFORMANCE_STATE = "performance-state"
# --- end performance page ---

# --- explanations page ---
EXPLAIN_STATE = "explain-state"
# --- end explanations page ---

# --- quality page ---
QUALITY_STATE = "quality-state"
# --- end quality page ---

# --- runs page ---
RUNS_STATE = "runs-state"
# --- end runs page ---

# --- report page ---
REPORT_STATE = "report-state"
# --- end report page ---
