-- wrk script: posts HR Manager style notifications, each request a
-- different event type and id drawn at random, over keep-alive
-- connections. The shared key comes from the environment, as the ingest
-- reads it. done() prints one machine-readable line for bench.py.

local events = {
  {"CandidateUpdated", "CandidateId"},
  {"CandidateUpdated", "CandidateId"},
  {"CandidateStatusUpdated", "CandidateId"},
  {"CandidateRegistered", "CandidateId"},
  {"CandidateHired", "CandidateId"},
  {"PositionPublished", "PositionId"},
  {"ProjectUpdated", "ProjectId"},
  {"ProjectCreated", "ProjectId"},
  {"AdvertisementUpdated", "AdvertisementId"},
  {"QuestionnaireUpdated", "QuestionnaireId"},
  {"SendCalendarInvite", "CalendarInviteId"},
  {"LayoutTemplatePublished", "LayoutTemplateId"},
}

local secret = os.getenv("BENCH_SECRET") or "bench-secret"
local headers = {["Content-Type"] = "application/json"}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
  local ev = events[math.random(#events)]
  local id = math.random(1, 200000)
  local body = string.format(
    '{"EventType": "%s", "%s": %d, "ProjectId": %d, "UserData": "%s", ' ..
    '"Timestamp": "2026-12-01T10:%02d:%02dZ"}',
    ev[1], ev[2], id, math.random(1, 500), secret,
    math.random(0, 59), math.random(0, 59))
  return wrk.format("POST", "/hooks/hrm", headers, body)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "wrk requests=%d seconds=%.3f rps=%.1f non2xx=%d socket_errors=%d " ..
    "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
    summary.requests, secs, summary.requests / secs, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
