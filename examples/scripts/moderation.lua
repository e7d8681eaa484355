-- moderation.lua: a publish hook. In a string data.text, every case-insensitive whole word
-- "darn" or "heck" becomes "****"; any other data is published untouched, byte for byte.
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
  if type(data) ~= "table" or type(data.text) ~= "string" then
    return nil
  end
  local masked = string.gsub(data.text, "%w+", mask)
  if masked == data.text then
    return nil -- nothing to change: the original bytes go out
  end
  data.text = masked
  return { data = data }
end
