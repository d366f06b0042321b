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
RUN_SHOWN = "run-shown"              # dcc.Store: the run id the page shows

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
FAIRNESS_INTERSECT = "fairness-intersect"  # multi-select: two or more columns crossed into groups
FAIRNESS_REFERENCE_SELECT = "fairness-reference-select"  # dropdown: reference group (empty = default)
FAIRNESS_THRESHOLD = "fairness-threshold"  # slider: decision threshold on P(favourable)
FAIRNESS_THRESHOLD_PANEL = "fairness-threshold-panel"
FAIRNESS_SWEEP = "fairness-sweep-chart"    # each group's selection rate vs threshold
FAIRNESS_NOTE = "fairness-note"            # why a query parameter of the link was not used
FAIRNESS_SOURCE = "fairness-source"        # stored in the run, or computed live (and how long it took)
# --- end fairness page ---

# --- performance page ---
PERFORMANCE_STATE = "performance-state"              # dcc.Store: {"model", "run_id"}
PERFORMANCE_OVERALL = "performance-overall"          # metric tiles with 95% intervals
PERFORMANCE_PER_CLASS = "performance-per-class"      # per-class precision / recall / F1 table
PERFORMANCE_ATTRIBUTE = "performance-attribute"      # sensitive attribute / cohort dropdown (?attribute=)
PERFORMANCE_GROUP = "performance-group"              # group the confusion matrix is restricted to (?group=)
PERFORMANCE_GROUP_NOTE = "performance-group-note"    # what the by-group rates mean for this attribute
PERFORMANCE_GROUP_CHART = "performance-group-chart"  # accuracy / TPR / FPR by group with intervals
PERFORMANCE_GROUP_TABLE = "performance-group-table"
PERFORMANCE_CONFUSION = "performance-confusion"      # confusion-matrix heatmap
PERFORMANCE_CONFUSION_NOTE = "performance-confusion-note"
PERFORMANCE_RELIABILITY = "performance-reliability"  # reliability curves by group
PERFORMANCE_ECE = "performance-ece"                  # ECE by group with intervals
PERFORMANCE_CALIBRATION_NOTE = "performance-calibration-note"
# --- end performance page ---

# --- explanations page ---
# vision (dashboard/pages/explain_vision.py)
EXPLAIN_VISION_STATE = "explain-vision-state"          # dcc.Store: {"run_id"}
EXPLAIN_VISION_CLASS = "explain-vision-class"          # gallery filter: true class (?cls=)
EXPLAIN_VISION_COHORT = "explain-vision-cohort"        # gallery filter: "column:value" (?cohort=)
EXPLAIN_VISION_CORRECT = "explain-vision-correct"      # gallery filter: all | correct | wrong (?correct=)
EXPLAIN_VISION_SCALE = "explain-vision-scale"          # colour scale: sample | run (?scale=)
EXPLAIN_VISION_GALLERY = "explain-vision-gallery"      # RadioItems of thumbnails; value = sample_id (?sample=)
EXPLAIN_VISION_COUNT = "explain-vision-count"          # "n of N explained samples match"
EXPLAIN_VISION_DETAIL = "explain-vision-detail"        # selected sample: labels and cohort values
EXPLAIN_VISION_OVERLAYS = "explain-vision-overlays"    # image + one overlay per method
EXPLAIN_VISION_CLASS_MAPS = "explain-vision-class-maps"
# nlp (dashboard/pages/explain_nlp.py)
EXPLAIN_NLP_STATE = "explain-nlp-state"                # dcc.Store: {"run_id"}
EXPLAIN_NLP_REVIEW = "explain-nlp-review"              # stored explained review, by sample_id (?review=)
EXPLAIN_NLP_METHOD = "explain-nlp-method"              # attribution method of the stored heatmap (?method=)
EXPLAIN_NLP_HEATMAP = "explain-nlp-heatmap"            # coloured token spans of the stored review
EXPLAIN_NLP_TEXT = "explain-nlp-text"                  # textarea: the user's own review
EXPLAIN_NLP_BUTTON = "explain-nlp-explain"             # "Explain" button
EXPLAIN_NLP_COUNT = "explain-nlp-count"               # "n / 2,000 characters" under the textarea
EXPLAIN_NLP_LIVE = "explain-nlp-live"                  # live prediction + token spans
EXPLAIN_NLP_PROBE_ATTRIBUTE = "explain-nlp-probe-attribute"  # counterfactual attribute filter (?probe=)
EXPLAIN_NLP_PROBE_TABLE = "explain-nlp-probe-table"
EXPLAIN_NLP_PROBE_CHART = "explain-nlp-probe-chart"
# finance (dashboard/pages/explain_finance.py)
EXPLAIN_FINANCE_STATE = "explain-finance-state"              # dcc.Store: {"model", "run_id"}
EXPLAIN_FINANCE_METHOD = "explain-finance-method"            # attribution method for importance + applicant (?method=)
EXPLAIN_FINANCE_IMPORTANCE = "explain-finance-importance"    # global feature importance with direction
EXPLAIN_FINANCE_IMPORTANCE_NOTE = "explain-finance-importance-note"
EXPLAIN_FINANCE_DECISION = "explain-finance-decision"        # applicant filter: all | approved | denied (?decision=)
EXPLAIN_FINANCE_GROUP = "explain-finance-group"              # applicant filter: "column=value" (?group=)
EXPLAIN_FINANCE_COUNT = "explain-finance-count"              # "n of m explained applicants"
EXPLAIN_FINANCE_TABLE = "explain-finance-table"              # DataTable of explained applicants (row id = sample_id)
EXPLAIN_FINANCE_APPLICANT = "explain-finance-applicant"      # dcc.Store: selected sample_id (?applicant=)
EXPLAIN_FINANCE_DETAIL = "explain-finance-detail"            # score, decision, groups, reason codes
EXPLAIN_FINANCE_ATTRIBUTIONS = "explain-finance-attributions"  # the applicant's top attributions
EXPLAIN_FINANCE_EDITOR = "explain-finance-editor"            # what-if: one input per raw feature
EXPLAIN_FINANCE_FIELD = "explain-finance-field"              # pattern-matching type: {"type": ..., "name": feature}
EXPLAIN_FINANCE_RECOMPUTE = "explain-finance-recompute"      # button: rescore + re-explain the edited applicant
EXPLAIN_FINANCE_RESET = "explain-finance-reset"              # button: restore the applicant's own values
EXPLAIN_FINANCE_WHATIF = "explain-finance-whatif"            # what-if result: score delta, flip, reasons
EXPLAIN_FINANCE_WHATIF_CHART = "explain-finance-whatif-chart"
EXPLAIN_FINANCE_WHATIF_CHART_WRAP = "explain-finance-whatif-chart-wrap"  # hidden until a recompute succeeds
# --- end explanations page ---

# --- quality page ---
QUALITY_STATE = "quality-state"                      # dcc.Store: {"model", "run_id"}
QUALITY_CHECKS = "quality-checks"                    # pass/fail table of every explanation-quality check
QUALITY_CHECK_FILTER = "quality-check-filter"        # all | failed checks (?checks=)
QUALITY_COVERAGE = "quality-coverage"                # per method: the verdict of each check family
QUALITY_NOT_APPLICABLE = "quality-not-applicable"    # families that do not apply to a method, and why
QUALITY_COMPLETENESS_METHODS = "quality-completeness-methods"  # completeness of the methods other than IG
QUALITY_CURVES_METHODS = "quality-curves-methods"    # deletion / insertion ratios of every method
QUALITY_ROBUSTNESS_METHODS = "quality-robustness-methods"      # infidelity / max-sensitivity of every method
QUALITY_COMPLETENESS = "quality-completeness"        # IG completeness: share within tolerance per n_steps
QUALITY_COMPLETENESS_TABLE = "quality-completeness-table"
QUALITY_CURVES = "quality-curves"                    # deletion / insertion curves
QUALITY_CURVES_TABLE = "quality-curves-table"        # AUCs and ratios
QUALITY_ROBUSTNESS = "quality-robustness"            # infidelity / max-sensitivity per sample
QUALITY_SIMILARITY = "quality-similarity"            # randomization measure: checked | abs | signed (?similarity=)
QUALITY_RANDOMIZATION = "quality-randomization"      # Spearman similarity per randomised layer
QUALITY_SHORTCUTS = "quality-shortcuts"              # shortcut probe table
# --- end quality page ---

# --- runs page ---
RUNS_STATE = "runs-state"                  # dcc.Store: {"model"}
RUNS_A = "runs-a"                          # run A (before) dropdown
RUNS_B = "runs-b"                          # run B (after) dropdown
RUNS_SUMMARY = "runs-summary"
RUNS_METRICS = "runs-metric-table"
RUNS_CHECKS = "runs-check-table"
RUNS_SETTINGS = "runs-settings-table"
# --- end runs page ---

# --- report page ---
REPORT_LINKS = "report-links"
REPORT_PROVENANCE = "report-provenance"
# --- end report page ---
FAIRNESS_GAP_TABLE = "fairness-gap-table"
CHECKS_TABLE = "checks-table"
CHECKS_FILTER = "checks-filter"
REPORT_VERDICT = "report-verdict"
GLOSSARY = "glossary"
REPORT_PDF_LINK = "report-pdf-link"
REPORT_PDF_STATUS = "report-pdf-status"
# Report page: integrity and reviewer sign-off (deepaudit.audit.integrity)
REPORT_INTEGRITY = "report-integrity"
SIGNOFF_LIST = "signoff-list"
SIGNOFF_DECISION = "signoff-decision"
SIGNOFF_CONDITIONS = "signoff-conditions"
SIGNOFF_COMMENT = "signoff-comment"
SIGNOFF_SUBMIT = "signoff-submit"
SIGNOFF_STATUS = "signoff-status"
