"""Every Dash component id used by the dashboard, in one place (ARCHITECTURE convention 7)."""

# app shell
NAV = "nav"
PAGE_TITLE = "page-title"

# home
HOME_MODELS = "home-models"
HOME_HISTORY = "home-history"

# fairness page
FAIRNESS_STATE = "fairness-state"          # dcc.Store: {"model", "run_id"} for this user's view
FAIRNESS_ATTRIBUTE = "fairness-attribute"  # dropdown of sensitive attributes / cohorts
FAIRNESS_REFERENCE = "fairness-reference"  # text naming the reference group
FAIRNESS_TABLE = "fairness-group-table"
FAIRNESS_IMPACT = "fairness-impact-chart"
FAIRNESS_RATES = "fairness-rates-chart"

# 404
NOT_FOUND = "not-found"
