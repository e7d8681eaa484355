-- rpc.lua: an rpc hook. Methods:
--   add  {a, b} -> {sum}
--   time        -> {now_ms}
-- any other method is error 400.
--
-- config:  scripts: [{name: rpc, file: scripts/rpc.lua, hooks: [rpc]}]

local methods = {}

function methods.add(data)
  if type(data) ~= "table" or type(data.a) ~= "number" or type(data.b) ~= "number" then
    return { error = { code = 400, reason = "add needs numbers a and b" } }
  end
  return { data = { sum = data.a + data.b } }
end

function methods.time()
  return { data = { now_ms = now_ms() } }
end

function on_rpc(ctx)
  local m = methods[ctx.method]
  if m == nil then
    return { error = { code = 400, reason = "unknown method " .. ctx.method } }
  end
  return m(ctx.data)
end
