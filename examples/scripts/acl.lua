-- acl.lua: a subscribe hook. Channels named private-* are only for the user ids listed in
-- the token's "admins" claim (an array of user ids); every other channel is open.
--
-- config:  scripts: [{name: acl, file: scripts/acl.lua, hooks: [subscribe]}]

local prefix = "private-"

function on_subscribe(ctx)
  if string.sub(ctx.channel, 1, #prefix) ~= prefix then
    return nil
  end
  local admins = ctx.claims and ctx.claims.admins
  if type(admins) == "table" then
    for _, id in ipairs(admins) do
      if id == ctx.user_id then
        return nil
      end
    end
  end
  log("info", "refused " .. ctx.user_id .. " on " .. ctx.channel)
  return { allow = false, reason = "private channels are for admins" }
end
