// The grammar package ships no types; it exports a tree-sitter Language.
declare module "tree-sitter-powershell" {
  const language: unknown;
  export default language;
}
