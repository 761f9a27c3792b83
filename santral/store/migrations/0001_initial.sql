-- Records of interactions, their IVR path, offers, agent changes, surveys and sessions.
-- Times are POSIX seconds. {autoincrement_key} is replaced per database.

CREATE TABLE interactions (
    id TEXT PRIMARY KEY,
    call_id TEXT,
    interaction_id TEXT,
    channel TEXT NOT NULL DEFAULT 'voice',
    connector TEXT NOT NULL DEFAULT '',
    dialplan TEXT NOT NULL DEFAULT '',
    caller TEXT NOT NULL DEFAULT '',
    called TEXT NOT NULL DEFAULT '',
    queue TEXT NOT NULL DEFAULT '',
    agent_id TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 0,
    arrived_at DOUBLE PRECISION NOT NULL,
    ivr_exit_at DOUBLE PRECISION,
    ivr_outcome TEXT,
    enqueued_at DOUBLE PRECISION,
    first_offer_at DOUBLE PRECISION,
    offers INTEGER NOT NULL DEFAULT 0,
    answered_at DOUBLE PRECISION,
    hold_started_at DOUBLE PRECISION,
    hold_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
    holds INTEGER NOT NULL DEFAULT 0,
    ended_at DOUBLE PRECISION,
    talk_seconds DOUBLE PRECISION,
    wrapup_started_at DOUBLE PRECISION,
    wrapup_ended_at DOUBLE PRECISION,
    wrapup_seconds DOUBLE PRECISION,
    outcome TEXT NOT NULL DEFAULT 'in_progress',
    call_outcome TEXT,
    transferred INTEGER NOT NULL DEFAULT 0,
    transfer_target TEXT NOT NULL DEFAULT '',
    overflow_target TEXT NOT NULL DEFAULT '',
    disposition TEXT NOT NULL DEFAULT '',
    survey_score INTEGER,
    erased INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX interactions_interaction_id ON interactions (interaction_id);
CREATE INDEX interactions_call_id ON interactions (call_id);
CREATE INDEX interactions_caller ON interactions (caller, arrived_at);
CREATE INDEX interactions_arrived ON interactions (arrived_at);
CREATE INDEX interactions_enqueued ON interactions (enqueued_at);

CREATE TABLE ivr_steps (
    id {autoincrement_key},
    record_id TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    dialplan TEXT NOT NULL,
    node TEXT NOT NULL,
    kind TEXT NOT NULL
);
CREATE INDEX ivr_steps_record ON ivr_steps (record_id);

CREATE TABLE ivr_variables (
    record_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (record_id, name)
);
CREATE INDEX ivr_variables_ts ON ivr_variables (ts);

CREATE TABLE offers (
    offer_id TEXT PRIMARY KEY,
    interaction_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    queue TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION,
    reason TEXT
);
CREATE INDEX offers_interaction ON offers (interaction_id);
CREATE INDEX offers_created ON offers (created_at);

CREATE TABLE agent_changes (
    id {autoincrement_key},
    agent_id TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX agent_changes_agent ON agent_changes (agent_id, ts);
CREATE INDEX agent_changes_ts ON agent_changes (ts);

CREATE TABLE survey_answers (
    id {autoincrement_key},
    record_id TEXT NOT NULL,
    question TEXT NOT NULL,
    score INTEGER NOT NULL,
    ts DOUBLE PRECISION NOT NULL
);
CREATE INDEX survey_answers_record ON survey_answers (record_id);
CREATE INDEX survey_answers_ts ON survey_answers (ts);

CREATE TABLE recordings (
    id {autoincrement_key},
    record_id TEXT NOT NULL,
    path TEXT NOT NULL,
    duration DOUBLE PRECISION NOT NULL DEFAULT 0,
    ts DOUBLE PRECISION NOT NULL
);
CREATE INDEX recordings_record ON recordings (record_id);
CREATE INDEX recordings_ts ON recordings (ts);

CREATE TABLE events (
    id {autoincrement_key},
    seq BIGINT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    type TEXT NOT NULL,
    record_key TEXT NOT NULL DEFAULT '',
    agent_id TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL
);
CREATE INDEX events_record_key ON events (record_key);
CREATE INDEX events_ts ON events (ts);

CREATE TABLE sessions (
    call_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
