// The whole flow through a TypeScript client: types from openapi-typescript, calls through
// openapi-fetch (make sdk-check). `tsc` type-checks it against the live schema, node runs it:
//     node build/flow.js BASE_URL
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema.js";

type Client = ReturnType<typeof createClient<paths>>;

const base = process.argv[2];
if (!base) throw new Error("usage: node build/flow.js BASE_URL");
const PASSWORD = "correct-horse-battery-42";
// A 1×1 PNG: the server decodes every upload, so the images must be real.
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

function check(condition: unknown, what: string, detail?: unknown): asserts condition {
  if (!condition) throw new Error(`${what}: ${JSON.stringify(detail)}`);
}

// Repeated `images` fields, as the API documents: FormData is what a browser or Node sends.
function multipart(body: components["schemas"]["PostCreateFormRequest"]): FormData {
  const form = new FormData();
  form.append("author", body.author);
  if (body.description !== undefined) form.append("description", body.description);
  (body.images ?? []).forEach((image, n) => form.append("images", image, `${n}.png`));
  return form;
}

async function register(anonymous: Client, username: string): Promise<{ id: string; email: string }> {
  const email = `${username}@sdk.example`;
  const { data, error } = await anonymous.POST("/api/auth/register", {
    body: { username, email, password: PASSWORD },
  });
  check(data, "register", error);
  return { id: data.new_user.id, email };
}

async function signedIn(email: string): Promise<Client> {
  const { data, error } = await createClient<paths>({ baseUrl: base }).POST("/api/auth/token", {
    body: { email, password: PASSWORD },
  });
  check(data, "token", error);
  return createClient<paths>({ baseUrl: base, headers: { Authorization: `Bearer ${data.access}` } });
}

const suffix = Math.random().toString(16).slice(2, 10);
const anonymous = createClient<paths>({ baseUrl: base });
const aliceUser = await register(anonymous, `ts_alice_${suffix}`);
const bobUser = await register(anonymous, `ts_bob_${suffix}`);
const alice = await signedIn(aliceUser.email);
const bob = await signedIn(bobUser.email);

const png = new Blob([PNG], { type: "image/png" });
const created = await alice.POST("/api/posts/create", {
  body: { author: aliceUser.id, description: "из TypeScript", images: [png, png] },
  bodySerializer: multipart,
});
check(created.data && created.data.images.length === 2, "post create", created.error);
const post = created.data;

const feed = await bob.GET("/api/posts/all", { params: { query: { limit: 20 } } });
check(feed.data?.some((item) => item.id === post.id), "feed", feed.error);

const liked = await bob.PATCH("/api/posts/{post_id}/like/{user_id}", {
  params: { path: { post_id: post.id, user_id: bobUser.id } },
});
check(liked.data?.likes_count === 1 && liked.data.liked_by_me, "like", liked.error);

const added = await alice.POST("/api/users/{user_id}/friends/add/{friend_id}", {
  params: { path: { user_id: aliceUser.id, friend_id: bobUser.id } },
});
check(added.data?.detail, "friends add", added.error);
const friends = await alice.GET("/api/users/friends/all");
check(friends.data?.length === 1 && friends.data[0]?.id === bobUser.id, "friends all", friends.error);
const isFriend = await bob.GET("/api/users/{user_id}/friends/{friend_id}", {
  params: { path: { user_id: bobUser.id, friend_id: aliceUser.id } },
});
check(isFriend.data?.user_is_friend === true, "friend check", isFriend.error);

const chat = await alice.POST("/api/chats/create", { body: { users: [bobUser.id], title: "SDK" } });
check(chat.data?.users.length === 2, "chat create", chat.error);
const history = await bob.GET("/api/chats/{chat_id}/messages/{offset}", {
  params: { path: { chat_id: chat.data.id, offset: 0 } },
});
check(history.data?.length === 0, "chat history", history.error);

const bye = await alice.DELETE("/api/auth/logout");
check(bye.data?.detail === "Вы успешно вышли из аккаунта", "logout", bye.error);
const after = await alice.GET("/api/auth/current_user");
check(after.response.status === 401 && after.error?.detail, "after logout", after.data);
console.log("typescript client: flow ok");
