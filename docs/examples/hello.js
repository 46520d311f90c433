// A Dispatch function: `dispatch create function hello docs/examples/hello.js --wait`,
// then `dispatch exec hello --input '{"name":"Jon"}'`.
export default async (context, payload) => {
  const { name = "Noone", place = "Nowhere" } = payload ?? {};
  context.logger.info(`greeting ${name}`);
  return { myField: `Hello, ${name} from ${place}` };
};
