/**
 * PostgreSQL 18's keyword categories (as libpg-query's scanner classifies them), for the two places that
 * need them: our own streaming parsers, which accept the same bare names PostgreSQL accepts, and the printer,
 * which must quote a name wherever the grammar would read it as a keyword.
 */

const words = (text: string): ReadonlySet<string> => new Set(text.trim().split(/\s+/))

/** Never usable as a bare name: `select`, `from`, `user`, `current_date`, ... */
export const RESERVED_KEYWORDS = words(`
  all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create
  current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc
  distinct do else end except false fetch for foreign from grant group having in initially intersect into
  lateral leading limit localtime localtimestamp not null offset on only or order placing primary references
  returning select session_user some symmetric system_user table then to trailing true union unique user using
  variadic when where window with
`)

/** Usable as function or type names but not as column names: `left`, `join`, `verbose`, ... */
export const TYPE_FUNC_NAME_KEYWORDS = words(`
  authorization binary collation concurrently cross current_schema freeze full ilike inner is isnull join left
  like natural notnull outer overlaps right similar tablesample verbose
`)

/** Usable as column names but not as function or type names: `time`, `int`, `coalesce`, ... */
export const COL_NAME_KEYWORDS = words(`
  between bigint bit boolean char character coalesce dec decimal exists extract float greatest grouping inout
  int integer interval json json_array json_arrayagg json_exists json_object json_objectagg json_query
  json_scalar json_serialize json_table json_value least merge_action national nchar none normalize nullif
  numeric out overlay position precision real row setof smallint substring time timestamp treat trim values
  varchar xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot
  xmlserialize xmltable
`)

/** Whether `word` (lower case) may stand as a bare column or table name, as PostgreSQL's `ColId`. */
export const isColumnName = (word: string): boolean => !RESERVED_KEYWORDS.has(word) && !TYPE_FUNC_NAME_KEYWORDS.has(word)

/** Whether `word` (lower case) may stand as a bare function name, as PostgreSQL's `type_function_name`. */
export const isFunctionName = (word: string): boolean => !RESERVED_KEYWORDS.has(word) && !COL_NAME_KEYWORDS.has(word)
