-- bench/soak.lua: the request mix that bench/soak sends with wrk, and the
-- status each kind of request must get. bench/soak passes what the requests
-- need in the environment (SOAK_TOKEN, SOAK_SESSION, SOAK_CONTAINER_TOKEN,
-- SOAK_ADMIN_SECRET, SOAK_CHURN) and checks the statuses against metatokend's
-- own per-path counts (GET /metatoken/v1/stats), so each stats key (the path
-- without its query) must stand for one expected status: a path used for a
-- 403 or a 405 is used for nothing else. done() prints the figures as
-- "SOAK_WRK {json}" and one "SOAK_KIND" line per kind.

local function env(name)
	local v = os.getenv(name)
	if not v or v == "" then
		error("bench/soak.lua: " .. name .. " is not set (run bench/soak)")
	end
	return v
end

local token, session = env("SOAK_TOKEN"), env("SOAK_SESSION")
local ctoken, secret, churn = env("SOAK_CONTAINER_TOKEN"), env("SOAK_ADMIN_SECRET"), env("SOAK_CHURN")

local SA = "/computeMetadata/v1/instance/service-accounts/"
local G = { ["Metadata-Flavor"] = "Google" }
local V2 = { ["X-aws-ec2-metadata-token"] = session }
local ADMIN = { ["Authorization"] = "Bearer " .. secret }

-- weight (out of the sum), name, method, path, headers, expected status
-- (or statuses).
-- Roughly what a fleet of functions asks: mostly tokens and credentials,
-- some metadata, API calls that carry the token, rare identity tokens, a
-- few mistakes, and a test's control calls now and then.
local mix = {
	{ 2400, "gce_token", "GET", SA .. "default/token", G, 200 },
	{ 300, "gce_token_churn", "GET", SA .. churn .. "/token", G, 200 },
	{ 600, "gce_email", "GET", SA .. "default/email", G, 200 },
	{ 400, "gce_accounts", "GET", SA, G, 200 },
	{ 300, "gce_recursive", "GET", "/computeMetadata/v1/instance/?recursive=true", G, 200 },
	{ 300, "gce_alt_json", "GET", "/computeMetadata/v1/project/project-id?alt=json", G, 200 },
	{ 200, "gce_ping", "GET", "/", G, 200 },
	{ 20, "gce_identity", "GET", SA .. "default/identity?audience=https://soak.example&format=full", G, 200 },
	{ 50, "oauth2_certs", "GET", "/oauth2/v3/certs", {}, 200 },
	{ 300, "gce_403_no_header", "GET", SA .. "default/scopes", {}, 403 },
	{ 200, "gce_404", "GET", "/computeMetadata/v1/instance/no-such-key", G, 404 },
	{ 100, "root_404", "GET", "/no-such-path", {}, 404 },
	{ 150, "gce_405_post", "POST", "/computeMetadata/v1/instance/zone", G, 405 },
	{ 50, "certs_405_delete", "DELETE", "/oauth2/v1/certs", {}, 405 },
	{ 300, "imds_v2_session", "PUT", "/latest/api/token", { ["X-aws-ec2-metadata-token-ttl-seconds"] = "21600" }, 200 },
	{ 1200, "imds_v2_role_creds", "GET", "/latest/meta-data/iam/security-credentials/metatoken-role", V2, 200 },
	{ 400, "imds_v1_instance_id", "GET", "/latest/meta-data/instance-id", {}, 200 },
	{ 200, "imds_v1_roles", "GET", "/latest/meta-data/iam/security-credentials/", {}, 200 },
	{ 100, "imds_401_bad_session", "GET", "/latest/meta-data/local-ipv4", { ["X-aws-ec2-metadata-token"] = "AQAAAAbogus" }, 401 },
	{ 400, "container_creds", "GET", "/v1/credentials", { ["Authorization"] = ctoken }, 200 },
	{ 800, "protected", "GET", "/protected/soak", { ["Authorization"] = "Bearer " .. token }, 200 },
	{ 300, "tokeninfo", "GET", "/tokeninfo?access_token=" .. token, {}, 200 },
	{ 20, "control_stats", "GET", "/metatoken/v1/stats", ADMIN, 200 },
	{ 20, "control_accounts", "GET", "/metatoken/v1/accounts", ADMIN, 200 },
	-- rotate keeps the old token valid, so "protected" stays 200; the churn
	-- account's token is never sent to /protected/, so expiring it is safe.
	{ 3, "control_rotate_default", "POST", "/metatoken/v1/accounts/default/rotate", ADMIN, 200 },
	-- 409: two expires with no request for the churn token in between.
	{ 3, "control_expire_churn", "POST", "/metatoken/v1/accounts/" .. churn .. "/expire", ADMIN, { 200, 409 } },
}

local total = 0
local expected_of = {}
for _, m in ipairs(mix) do
	total = total + m[1]
	m.key = m[4]:match("^[^?]*")
	m.expected = type(m[6]) == "table" and table.concat(m[6], ",") or tostring(m[6])
	if expected_of[m.key] and expected_of[m.key] ~= m.expected then
		error("bench/soak.lua: " .. m.key .. " is expected to answer two ways")
	end
	expected_of[m.key] = m.expected
end

local threads = {}
local n_threads = 0

function setup(thread)
	n_threads = n_threads + 1
	thread:set("id", n_threads)
	table.insert(threads, thread)
end

-- Per thread; sent is a global so that done() can read it (thread:get).
local requests

function init(args)
	math.randomseed(os.time() * 1000 + id)
	requests, sent = {}, {}
	for i, m in ipairs(mix) do
		local h = {}
		for k, v in pairs(m[5]) do
			h[k] = v
		end
		requests[i] = wrk.format(m[3], m[4], h)
		sent[i] = 0
	end
end

function request()
	local r = math.random(total)
	for i, m in ipairs(mix) do
		r = r - m[1]
		if r <= 0 then
			sent[i] = sent[i] + 1
			return requests[i]
		end
	end
end

function done(summary, latency, _)
	local e = summary.errors
	io.write(string.format(
		'SOAK_WRK {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
		'"timeout":%d,"status_4xx_5xx":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
		summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
		latency:percentile(50), latency:percentile(99), latency.max))
	local counts = {}
	for _, t in ipairs(threads) do
		local s = t:get("sent")
		for i = 1, #mix do
			counts[i] = (counts[i] or 0) + (s and s[i] or 0)
		end
	end
	for i, m in ipairs(mix) do
		io.write(string.format("SOAK_KIND %s %s %s %s %d\n", m[2], m[3], m.key, m.expected, counts[i]))
	end
end
