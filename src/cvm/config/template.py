"""The commented ``cvm.yaml`` that ``cvm init`` writes."""

from __future__ import annotations

from cvm.config.settings import Settings

_TEMPLATE = """\
# CVM workspace configuration.
# Every key can be overridden by an environment variable CVM__SECTION__KEY,
# for example CVM__INGEST__MAX_REJECT_RATIO=0.1 or CVM__STORE__ONLINE_URL=postgresql+psycopg://...

store:
  # Offline compute backend over the Parquet files: duckdb (one machine) or spark (a cluster).
  offline: {store.offline}
  # The Spark session when offline is spark (CVM__STORE__SPARK__MASTER=local[2] works too).
  spark:
    master: {store.spark.master}
    app_name: {store.spark.app_name}
    # Extra Spark configuration, e.g. {{spark.executor.memory: 8g}}
    conf: {spark_conf}
  # The offline store: a folder (relative to the workspace), or s3://bucket/prefix on S3 or an
  # S3-compatible server (s3a:// too). Credentials, region and endpoint come from the environment only:
  # AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL (see docs/object-storage.md).
  offline_path: {store.offline_path}
  # SQLAlchemy URL of the online store (API keys, audit log, ...).
  # Leave empty for SQLite at <workspace>/online.db; PostgreSQL: postgresql+psycopg://user@host/db
  # Put passwords in the environment (CVM__STORE__ONLINE_URL), not in this file.
  online_url: {online_url}

ingest:
  # A batch whose rejected share exceeds this ratio is refused whole (nothing stored).
  max_reject_ratio: {ingest.max_reject_ratio}
  # Dates later than now plus this many days are rejected.
  future_tolerance_days: {ingest.future_tolerance_days}
  # Time zone of timestamps without an offset in source files.
  timezone: {ingest.timezone}
  # Regular expression every customer id must match in full (ids with '/' are fine). Empty,
  # whitespace-only, over-long (> 128) ids and control characters are always refused.
  customer_id_pattern: '{ingest.customer_id_pattern}'

# Saved mappings of your own exports, one block per hub table, used by `cvm run` (the inbox),
# `cvm ingest FILE` and `cvm ingest --from-sql` alike; command-line flags override them.
# columns: source header -> hub column (headers match exactly or trimmed, case- and space-insensitively);
# values: hub column -> {{source value: hub value}}; options: delimiter, decimal, date_format, encoding,
# format (each detected when left out). `cvm schema TABLE` lists the hub columns, and
# `cvm sources suggest FILE --table TABLE` proposes a block from a file's headers. Example:
#   sources:
#     customers:
#       columns: {{"N° client": customer_id, "Nom": name, "Date d'acquisition": acquired_at, "Type": kind}}
#       values: {{kind: {{Particulier: B2C, Entreprise: B2B}}}}
#       options: {{delimiter: ";", decimal: ",", date_format: "%d/%m/%Y", encoding: cp1252}}
{sources}

api:
  # Where `cvm serve` listens.
  host: {api.host}
  port: {api.port}
  # Largest request body in bytes (a batch of 1,000 events is about 200 kB); a larger one gets a 413 unread.
  max_body_bytes: {api.max_body_bytes}

web:
  # Dashboard logins: failed attempts per client address and per API key id, as token buckets
  # (a burst, then so many per minute). Past them the login page answers 429 with Retry-After;
  # a bucket refills by itself, so a lockout ends soon after the failed attempts stop.
  login_per_minute: {web.login_per_minute}
  login_burst: {web.login_burst}
  key_login_per_minute: {web.key_login_per_minute}
  key_login_burst: {web.key_login_burst}
  # Open sessions per key (a key's new login ends its own oldest session, never another key's) and in all.
  sessions_per_key: {web.sessions_per_key}
  max_sessions: {web.max_sessions}
  # Swagger UI at /docs, served from local files; false turns it off (/openapi.json stays).
  docs: {docs}

reporting:
  # Language and currency of the dashboard, `cvm report html` and the CLI reports when nothing else
  # chooses: en, fr or nl, with a region for number and date formats (fr_BE: 344 173,55 €; nl_BE: € 344.173,55).
  # The dashboard prefers the user's choice, ?lang= and the browser's language; the CLI takes --lang.
  locale: {reporting.locale}
  currency: {reporting.currency}
  # A survey figure (NPS, % would / did recommend) on fewer answers than this carries a warning.
  min_sample: {reporting.min_sample}

scoring:
  # Value scores written by `cvm score` and `cvm run`.
  # Purchase model for customers without a contract: bgnbd (BG/NBD), pnbd (Pareto/NBD) or mbgnbd (MBG/NBD).
  value_model: {scoring.value_model}
  # Spend model: gg (Gamma-Gamma). Contract model for subscribers: sbg (shifted beta-geometric, monthly).
  spend_model: {scoring.spend_model}
  contractual_model: {scoring.contractual_model}
  # Time unit the purchase model is fitted in: D (days) or W (weeks).
  freq: {scoring.freq}
  # CLV horizon in months, and the ANNUAL discount rate (applied monthly as (1 + r)^(1/12) - 1).
  horizon_months: {scoring.horizon_months}
  discount_rate: {scoring.discount_rate}
  # Margin: "transactions" uses each customer's margin/amount ratio (base-wide ratio when unknown),
  # "rate" uses margin_rate for everyone; margin_rate is also the fallback when no margins are recorded.
  margin_source: {scoring.margin_source}
  margin_rate: {scoring.margin_rate}
  # Value grades on CLV: quantile (top high_share high, next medium_share medium, rest low)
  # or threshold (CLV >= high_threshold high, >= medium_threshold medium).
  grading: {scoring.grading}
  high_share: {scoring.high_share}
  medium_share: {scoring.medium_share}
  high_threshold: {high_threshold}
  medium_threshold: {medium_threshold}
  # With fewer buyers than this no model is fitted (`cvm run` skips scoring and says so).
  min_customers: {scoring.min_customers}
  # Guardrails on thin data: a CLV not above medium_floor is low and one not above high_floor at most
  # medium, whatever its rank (null: no floor). A CLV equal for everyone is not graded at all, and a value
  # model that did not converge (or has a parameter at a bound) writes no scores; `cvm score` says why.
  medium_floor: {medium_floor}
  high_floor: {high_floor}
  # Cost to serve (net_margin_12m, net_clv; docs/net-margin.md): each contact in the hub costs its channel's
  # price (contact, else plans.policy.channel_cost, else other_contact); a complaint and a payment reminder cost
  # complaint / reminder on top; each invoice paid late or still overdue costs late_payment; an invoice unpaid
  # bad_debt_days past due loses bad_debt_share of its amount.
  cost_to_serve:
    contact: {cost_contact}
    other_contact: {scoring.cost_to_serve.other_contact}
    complaint: {scoring.cost_to_serve.complaint}
    reminder: {scoring.cost_to_serve.reminder}
    late_payment: {scoring.cost_to_serve.late_payment}
    bad_debt_days: {scoring.cost_to_serve.bad_debt_days}
    bad_debt_share: {scoring.cost_to_serve.bad_debt_share}
  # Customers scored per chunk (value, life-cycle scores, early warning): peak memory grows with the chunk,
  # not with the customer base; the grades still rank the whole base.
  chunk_customers: {scoring.chunk_customers}

delivery:
  # `cvm worker` sends pending actions from the outbox. Transports: webhook, csv, parquet (files
  # appended per worker run under export_dir) or log. Route contact channels to transports, e.g.
  # routes: {{email: webhook, sms: webhook, mail: csv}}; unrouted channels use default_transport.
  default_transport: {delivery.default_transport}
  routes: {{}}
  # The webhook POSTs each action as JSON, signed per Standard Webhooks (webhook-id = the
  # Idempotency-Key, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256 of
  # "<id>.<timestamp>.<body>">) and, as before, X-CVM-Signature: t=<unix time>,v1=<hex HMAC>.
  # Secrets come from the environment only: CVM__DELIVERY__WEBHOOK_SECRET (whsec_<base64>
  # or any string) and, during a roll-over, CVM__DELIVERY__WEBHOOK_PREVIOUS_SECRET: requests
  # are then signed with both, so receivers verify with either.
  webhook_url: {webhook_url}
  # Each network step (connect, write, each read) may take timeout_seconds; a whole request
  # at most request_deadline_seconds (null: timeout_seconds), which must be below lease_seconds.
  # Past the deadline the attempt has failed and is retried, never counted as delivered.
  timeout_seconds: {delivery.timeout_seconds}
  request_deadline_seconds: {request_deadline}
  # Failed attempts are retried with exponential backoff and full jitter (a random wait up to
  # min(backoff_max_seconds, backoff_base_seconds * 2^attempt)); after max_attempts a request is
  # dead-lettered (kept, never dropped; `cvm actions retry ID` sends it again).
  max_attempts: {delivery.max_attempts}
  backoff_base_seconds: {delivery.backoff_base_seconds}
  backoff_max_seconds: {delivery.backoff_max_seconds}
  # A worker renews the leases of its requests in flight; one that dies keeps its claims for at
  # most lease_seconds, then another worker takes them.
  lease_seconds: {delivery.lease_seconds}
  # Webhook requests in flight per worker (a thread each), each settled as it finishes: a slow
  # receiver holds one slot, not the others, until its deadline. Enough slots for a share of
  # hanging requests: rate x (latency + share x deadline), e.g. 66/s x (0.05 + 5% x 5) = 20.
  concurrency: {delivery.concurrency}
  poll_seconds: {delivery.poll_seconds}
  export_dir: {delivery.export_dir}
  # `cvm run` delivers for at most this many seconds, then leaves the rest to `cvm worker`.
  run_seconds: {delivery.run_seconds}

events:
  # An event for a customer unknown to the hub: reject (404) or provisional (create an online profile).
  unknown_customer: {events.unknown_customer}
  # Contacts sent or planned in this many days count toward contact caps.
  contact_lookback_days: {events.contact_lookback_days}
  # Batches one API process ingests at once (single events never wait); for more, run more processes.
  concurrent_batches: {events.concurrent_batches}
  # Limits on an event's properties (an event over one is refused with status invalid, naming the field):
  # levels of nested objects and lists in one property, bytes of one property (name and JSON value), and
  # bytes of all its properties together. Integers must fit in 64 bits, numbers be finite, text valid UTF-8.
  max_depth: {events.max_depth}
  max_property_bytes: {events.max_property_bytes}
  max_event_bytes: {events.max_event_bytes}
"""

_EXPERIMENTS = """
experiments:
  # Global holdout: this share of customers (chosen by a stable hash of their id) is never contacted by
  # a marketing step, so that the value of all marketing together can be measured (e.g. 0.05). Steps
  # declared `kind: service` or `kind: transactional` still reach them.
  holdout_share: {holdout_share}
  # The rest of the holdout ladder (docs/decision-log.md); every decision is logged in decision_log with its rung.
  ladder:
    # Plan holdouts: plan name -> share of customers never reached by that plan's marketing steps.
    plan_holdout: {plan_holdout}
    # Exploration: this share of decisions (all-marketing candidates only) picks uniformly among the eligible
    # actions and no action, so that uplift models learn from randomised data (e.g. 0.10).
    exploration: {ladder.exploration}
    # Pilots with `allocation: thompson` split their non-holdout arms by Thompson sampling, each arm at least this.
    thompson_floor: {ladder.thompson_floor}
  # Pilots: randomized tests of a plan or one of its steps, made when the plan would act (`cvm pilot
  # create` adds one here; `cvm pilot report NAME` analyses it). Holdout arms are not contacted; other
  # arms may change the offer, the channel, the action or the contact caps. Example:
  #   pilots:
  #     review_call:
  #       plan: contact
  #       step: account_review
  #       arms:
  #         control: {{share: 0.5, holdout: true}}
  #         call: {{share: 0.25, channel: phone}}
  #         task: {{share: 0.25}}
  #       outcome_days: 90
  #       primary: retention
  #       segment_by: [kind, region]
{pilots}
"""

_PRIVACY = """
privacy:
  # Erasure (`cvm customer erase`, DELETE /customers/{{id}}) removes the person from the stores, the inbox
  # files (archived, refused and pending), the CSV/Parquet exports, the outbox and demo files. The audit log
  # keeps an HMAC-SHA256 token of the id, keyed by CVM__PRIVACY__ERASURE_KEY (environment only); without
  # it a random key is created once in <workspace>/.erasure-key (mode 0600). Keep the key to check later
  # that a given id was erased.
  # `cvm serve` logs requests to stdout with customer ids and query values masked; with log_dir set
  # (relative to the workspace, or absolute) also to <log_dir>/access.log.
  log_dir: {log_dir}
"""


_LIFECYCLE = """
models:
  # Life-cycle models trained by `cvm train` (churn, default scorecard, propensity per product).
  # Label horizons: churn and adoption within N days; default = ever 60+ days past due within N days.
  churn_horizon_days: {m.churn_horizon_days}
  default_horizon_days: {m.default_horizon_days}
  adoption_horizon_days: {m.adoption_horizon_days}
  # A customer without a contract has churned after this many days without a purchase.
  inactivity_days: {m.inactivity_days}
  # Training stacks this many snapshots, snapshot_step_days apart, the latest whose labels are observed
  # first; the newest labelled window is held out to measure the model (out of time).
  snapshots: {m.snapshots}
  snapshot_step_days: {m.snapshot_step_days}
  max_training_rows: {m.max_training_rows}
  # Most boosting rounds of the churn and propensity models: scoring time grows with them.
  n_estimators: {m.n_estimators}
  # Grades of churn, default and propensity: top high_share high, next medium_share medium, unless
  # fixed (medium, high) thresholds are given per score, e.g. thresholds: {{churn: [0.1, 0.3]}}.
  thresholds: {{}}
  high_share: {m.high_share}
  medium_share: {m.medium_share}
  # Guardrails on thin data: (medium, high) probability floors per score; a probability not above them is
  # graded lower whatever its rank (a 1e-6 propensity is never medium). A score equal for everyone is not graded.
  grade_floors: {grade_floors}
  # `cvm train` never makes a version champion when its held-out AUC is not above min_auc, or when it
  # was trained on fewer than min_positives events (churners, bads; each product's adoptions, else the
  # product is left out); it is registered as a challenger, and the existing champion stays.
  min_auc: {m.min_auc}
  min_positives: {m.min_positives}

risk:
  # Risk appetite (`cvm risk cutoffs`, `cvm risk simulate`): exposure at default per accepted customer,
  # loss given default, and the margin a good customer earns on its exposure.
  exposure: {r.exposure}
  lgd: {r.lgd}
  margin: {r.margin}
  # Points scaling of the scorecard: pdo points double the good:bad odds, which are `odds` at target_score.
  pdo: {r.pdo}
  odds: {r.odds}
  target_score: {r.target_score}
  # Width of the score bands of the cut-off table, in points.
  band_width: {r.band_width}
  # Acceptance policy: applicants at or above cutoff points are accepted (null: everyone).
  # `cvm risk simulate --cutoff X --apply` rewrites this block.
  acceptance:
    cutoff: {cutoff}
  # Early warning: customers whose default score fell by more than early_warning_drop points within
  # early_warning_days, or whose default grade worsened.
  early_warning_drop: {r.early_warning_drop}
  early_warning_days: {r.early_warning_days}
"""


def _pilots_block(s: Settings) -> str:
    import yaml

    pilots = {k: v.model_dump(mode="json", exclude_defaults=True) for k, v in s.experiments.pilots.items()}
    if not pilots:
        return "  pilots: {}"
    lines = ["  pilots:"]
    for name, data in pilots.items():
        data.setdefault("plan", s.experiments.pilots[name].plan)
        text = yaml.safe_dump(data, default_flow_style=True, width=10_000, sort_keys=False).strip()
        lines.append(f"    {name}: {text}")
    return "\n".join(lines)


def _sources_block(s: Settings) -> str:
    import yaml

    if not s.sources.root:
        return "sources: {}"
    data = {"sources": s.sources.model_dump(mode="json", exclude_defaults=True)}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10_000).strip()


def render_template(settings: Settings | None = None) -> str:
    """Return the commented YAML for ``settings`` (defaults when omitted)."""
    from cvm.config.plans_template import render_section

    s = settings or Settings()
    sc = s.scoring
    return (
        _TEMPLATE.format(
            store=s.store,
            ingest=s.ingest,
            api=s.api,
            web=s.web,
            docs=str(s.web.docs).lower(),
            reporting=s.reporting,
            scoring=sc,
            delivery=s.delivery,
            events=s.events,
            sources=_sources_block(s),
            webhook_url=s.delivery.webhook_url or "null",
            request_deadline="null"
            if s.delivery.request_deadline_seconds is None
            else s.delivery.request_deadline_seconds,
            online_url=s.store.online_url or "null",
            spark_conf="{" + ", ".join(f"{k}: {v}" for k, v in s.store.spark.conf.items()) + "}",
            high_threshold="null" if sc.high_threshold is None else sc.high_threshold,
            medium_threshold="null" if sc.medium_threshold is None else sc.medium_threshold,
            medium_floor="null" if sc.medium_floor is None else sc.medium_floor,
            high_floor="null" if sc.high_floor is None else sc.high_floor,
            cost_contact="{" + ", ".join(f"{k}: {v}" for k, v in sc.cost_to_serve.contact.items()) + "}",
        )
        + _LIFECYCLE.format(
            m=s.models,
            r=s.risk,
            cutoff="null" if s.risk.acceptance.cutoff is None else s.risk.acceptance.cutoff,
            grade_floors="{" + ", ".join(f"{k}: [{lo}, {hi}]" for k, (lo, hi) in s.models.grade_floors.items()) + "}",
        )
        + render_section(s.segments, s.plans)
        + _EXPERIMENTS.format(
            holdout_share=s.experiments.holdout_share,
            ladder=s.experiments.ladder,
            plan_holdout="{" + ", ".join(f"{k}: {v}" for k, v in s.experiments.ladder.plan_holdout.items()) + "}",
            pilots=_pilots_block(s),
        )
        + _PRIVACY.format(log_dir=s.privacy.log_dir or "null")
    )
