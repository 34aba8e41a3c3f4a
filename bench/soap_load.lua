-- wrk script driven by bench/throughput.py: fills a SOAP envelope template for every request and
-- checks every response, because wrk alone would count a SOAP fault inside a 200 as a success.
--
-- Arguments after `--`: template file, result file, run label, debit accounts, credit accounts
-- (comma-separated). Placeholders in the template: {reference} {amount} {debit} {credit} {account}.
-- The result file gets one JSON object that throughput.py reads back.

wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"

local threads = {}

function setup(thread)
   thread:set("thread_number", #threads + 1)
   table.insert(threads, thread)
end

local function split(csv)
   local items = {}
   for item in string.gmatch(csv, "[^,]+") do
      table.insert(items, item)
   end
   return items
end

local function fill(text, placeholder, value)
   -- A function replacement, because gsub would read "%" in a replacement string as an escape.
   return (string.gsub(text, placeholder, function() return value end))
end

function init(args)
   local file = assert(io.open(args[1], "rb"))
   template = file:read("*a")
   file:close()
   result_path, run_label = args[2], args[3]
   debit_accounts, credit_accounts = split(args[4]), split(args[5])
   every_account = split(args[4] .. "," .. args[5])
   posts_entries = string.find(template, "{reference}", 1, true) ~= nil
   math.randomseed(thread_number * 7919)
   errors, counter = 0, 0
   -- References whose success no response has confirmed: still in flight when wrk stopped, answered
   -- with an error, or never sent (wrk calls request() once up front to inspect it).
   -- throughput.py looks them up in the database.
   unconfirmed = {}
   sample_error = nil
end

function request()
   counter = counter + 1
   local body = template
   if posts_entries then
      local reference = string.format("%s-%d-%d", run_label, thread_number, counter)
      local cents = counter % 999 + 1
      unconfirmed[reference] = true
      body = fill(body, "{reference}", reference)
      body = fill(body, "{amount}", string.format("%d.%02d", math.floor(cents / 100), cents % 100))
      body = fill(body, "{debit}", debit_accounts[math.random(#debit_accounts)])
      body = fill(body, "{credit}", credit_accounts[math.random(#credit_accounts)])
   else
      body = fill(body, "{account}", every_account[math.random(#every_account)])
   end
   return wrk.format(nil, nil, nil, body)
end

local function is_fault(body)
   return string.find(body, ":Fault[%s/>]") ~= nil or string.find(body, "<Fault[%s/>]") ~= nil
end

function response(status, headers, body)
   if status ~= 200 or is_fault(body) then
      errors = errors + 1
      if sample_error == nil then
         sample_error = string.format("HTTP %d\n%s", status, body)
      end
      return
   end
   if posts_entries then
      local reference = string.match(body, "reference>([^<]*)</")
      if reference ~= nil then
         unconfirmed[reference] = nil
      end
   end
end

local function json_string(text)
   local escaped = string.gsub(text, '[%c"\\]', function(character)
      return string.format("\\u%04x", string.byte(character))
   end)
   return '"' .. escaped .. '"'
end

function done(summary, latency, requests)
   local error_total, references, sample = 0, {}, nil
   for _, thread in ipairs(threads) do
      error_total = error_total + thread:get("errors")
      for reference in pairs(thread:get("unconfirmed")) do
         table.insert(references, json_string(reference))
      end
      sample = sample or thread:get("sample_error")
   end
   local socket = summary.errors
   -- done() runs in wrk's main Lua state, which init() never saw: the path comes from a thread.
   local file = assert(io.open(threads[1]:get("result_path"), "w"))
   file:write(string.format(
      '{"duration_us": %d, "responses": %d, "error_responses": %d, ' ..
      '"socket_errors": %d, "p50_us": %d, "p99_us": %d, "sample_error": %s, "unconfirmed": [%s]}\n',
      summary.duration, summary.requests, error_total,
      socket.connect + socket.read + socket.write + socket.timeout,
      latency:percentile(50), latency:percentile(99),
      sample and json_string(sample) or "null", table.concat(references, ", ")))
   file:close()
end
