-- moderation.lua: a publish hook. In a string data.text, every case-insensitive whole word
-- "darn" or "heck" becomes "****"; any other data is published untouched, byte for byte.
-- A Pusher event reaches the hook as the native publication it maps to (docs/pusher.md),
-- {"event":…,"data":…}: there the text is data.data.text, so one script moderates both
-- protocols. (The Pusher server SDKs send data as a JSON string, which stays untouched.)
--
-- config:  scripts: [{name: moderation, file: scripts/moderation.lua, hooks: [publish]}]

local banned = { darn = true, heck = true }

-- A word is a maximal run of letters and digits, so "darned" and "heckle" stay as they are.
local function mask(word)
  if banned[string.lower(word)] then
    return "****"
  end
  return nil -- keep the word
end

function on_publish(ctx)
  local data = ctx.data
  if type(data) ~= "table" then
    return nil
  end
  local msg = data
  if type(data.event) == "string" and type(data.data) == "table" then
    msg = data.data -- a Pusher event
  end
  if type(msg.text) ~= "string" then
    return nil
  end
  local masked = string.gsub(msg.text, "%w+", mask)
  if masked == msg.text then
    return nil -- nothing to change: the original bytes go out
  end
  msg.text = masked
  return { data = data }
end
