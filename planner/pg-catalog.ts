/**
 * The virtual `pg_catalog` and `information_schema` tables that psql, JDBC's DatabaseMetaData, BI tools and
 * drivers read to browse a database. They are generated from Sluice's own catalog on every read: streams are
 * tables (`relkind 'r'`) and materialized views are materialized views (`'m'`), both in schema `public`;
 * Sluice's system tables are views in schema `sluice`; the catalog tables themselves are views in
 * `pg_catalog` / `information_schema`. Column names and types are PostgreSQL 15's, so that the SQL clients
 * send binds unchanged and RowDescription reports the same type OIDs as PostgreSQL.
 *
 * OIDs are stable: a stream's or view's relation OID is derived from its catalog id (persisted with the
 * catalog), catalog and system tables have fixed OIDs by position, built-in types keep PostgreSQL's.
 */
import { SluiceError, SqlState } from '../common/errors.ts'
import { Types, TypeOid, arrayOf, typeDisplayName, typeOid, type Column, type Row, type SqlType, type TypeName, type Value } from '../common/types.ts'
import type { Catalog, CatalogEntry, ViewDef } from './catalog.ts'
import type { SettingEntry } from '../expr/runtime.ts'
import { SYSTEM_TABLES } from './system-tables.ts'
import { viewDefinition } from './view-definition.ts'

const pg = (name: TypeName, pgOid: number, pgSize: number, element?: SqlType): SqlType =>
  Object.freeze(element === undefined ? { name, pgOid, pgSize } : { name, element, pgOid, pgSize })

/** Catalog types carried by Sluice types; `pgOid` is what clients are told. */
export const T = {
  oid: pg('int4', 26, 4),
  name: pg('text', 19, 64),
  char: pg('text', 18, 1),
  varchar: pg('text', 1043, -1),
  nodeTree: pg('text', 194, -1),
  regproc: pg('text', 24, 4),
  regclass: pg('text', 2205, 4),
  regtype: pg('text', 2206, 4),
  regnamespace: pg('text', 4089, 4),
  xid: pg('int4', 28, 4),
  inet: pg('text', 869, -1),
  anyarray: pg('text', 2277, -1),
  textArray: arrayOf(Types.text),
  int2Array: arrayOf(Types.int2),
  aclArray: pg('text', 1034, -1, Types.text),
  oidArray: pg('int4', 1028, -1, pg('int4', 26, 4)),
  int2vector: pg('int2', 22, -1, Types.int2),
  oidvector: pg('int4', 30, -1, pg('int4', 26, 4)),
  charArray: pg('text', 1002, -1, pg('text', 18, 1)),
  nameArray: pg('text', 1003, -1, pg('text', 19, 64)),
} as const

const TYPE_KEYS: Record<string, SqlType> = { ...T, bool: Types.bool, text: Types.text, int2: Types.int2, int4: Types.int4, int8: Types.int8, float4: Types.float4, float8: Types.float8, interval: Types.interval, timestamptz: Types.timestamptz, bytea: Types.bytea, lsn: pg('text', 3220, 8) }

/** `'a:oid b:name'` to columns (the tables are long; one line each keeps them readable). */
function cols(spec: string): Column[] {
  return spec.split(' ').map((p) => {
    const [name, type] = p.split(':') as [string, string]
    return { name, type: TYPE_KEYS[type]!, nullable: true }
  })
}

/** Every catalog table by `schema.name`, with PostgreSQL 15's columns in order. */
export const CATALOG_TABLES: Readonly<Record<string, readonly Column[]>> = {
  'information_schema.columns': cols('table_catalog:name table_schema:name table_name:name column_name:name ordinal_position:int4 column_default:varchar is_nullable:varchar data_type:varchar character_maximum_length:int4 character_octet_length:int4 numeric_precision:int4 numeric_precision_radix:int4 numeric_scale:int4 datetime_precision:int4 interval_type:varchar interval_precision:int4 character_set_catalog:name character_set_schema:name character_set_name:name collation_catalog:name collation_schema:name collation_name:name domain_catalog:name domain_schema:name domain_name:name udt_catalog:name udt_schema:name udt_name:name scope_catalog:name scope_schema:name scope_name:name maximum_cardinality:int4 dtd_identifier:name is_self_referencing:varchar is_identity:varchar identity_generation:varchar identity_start:varchar identity_increment:varchar identity_maximum:varchar identity_minimum:varchar identity_cycle:varchar is_generated:varchar generation_expression:varchar is_updatable:varchar'),
  'information_schema.key_column_usage': cols('constraint_catalog:name constraint_schema:name constraint_name:name table_catalog:name table_schema:name table_name:name column_name:name ordinal_position:int4 position_in_unique_constraint:int4'),
  'information_schema.parameters': cols('specific_catalog:name specific_schema:name specific_name:name ordinal_position:int4 parameter_mode:varchar is_result:varchar as_locator:varchar parameter_name:name data_type:varchar character_maximum_length:int4 character_octet_length:int4 character_set_catalog:name character_set_schema:name character_set_name:name collation_catalog:name collation_schema:name collation_name:name numeric_precision:int4 numeric_precision_radix:int4 numeric_scale:int4 datetime_precision:int4 interval_type:varchar interval_precision:int4 udt_catalog:name udt_schema:name udt_name:name scope_catalog:name scope_schema:name scope_name:name maximum_cardinality:int4 dtd_identifier:name parameter_default:varchar'),
  'information_schema.routines': cols('specific_catalog:name specific_schema:name specific_name:name routine_catalog:name routine_schema:name routine_name:name routine_type:varchar module_catalog:name module_schema:name module_name:name udt_catalog:name udt_schema:name udt_name:name data_type:varchar character_maximum_length:int4 character_octet_length:int4 character_set_catalog:name character_set_schema:name character_set_name:name collation_catalog:name collation_schema:name collation_name:name numeric_precision:int4 numeric_precision_radix:int4 numeric_scale:int4 datetime_precision:int4 interval_type:varchar interval_precision:int4 type_udt_catalog:name type_udt_schema:name type_udt_name:name scope_catalog:name scope_schema:name scope_name:name maximum_cardinality:int4 dtd_identifier:name routine_body:varchar routine_definition:varchar external_name:varchar external_language:varchar parameter_style:varchar is_deterministic:varchar sql_data_access:varchar is_null_call:varchar sql_path:varchar schema_level_routine:varchar max_dynamic_result_sets:int4 is_user_defined_cast:varchar is_implicitly_invocable:varchar security_type:varchar to_sql_specific_catalog:name to_sql_specific_schema:name to_sql_specific_name:name as_locator:varchar created:timestamptz last_altered:timestamptz new_savepoint_level:varchar is_udt_dependent:varchar result_cast_from_data_type:varchar result_cast_as_locator:varchar result_cast_char_max_length:int4 result_cast_char_octet_length:int4 result_cast_char_set_catalog:name result_cast_char_set_schema:name result_cast_char_set_name:name result_cast_collation_catalog:name result_cast_collation_schema:name result_cast_collation_name:name result_cast_numeric_precision:int4 result_cast_numeric_precision_radix:int4 result_cast_numeric_scale:int4 result_cast_datetime_precision:int4 result_cast_interval_type:varchar result_cast_interval_precision:int4 result_cast_type_udt_catalog:name result_cast_type_udt_schema:name result_cast_type_udt_name:name result_cast_scope_catalog:name result_cast_scope_schema:name result_cast_scope_name:name result_cast_maximum_cardinality:int4 result_cast_dtd_identifier:name'),
  'information_schema.schemata': cols('catalog_name:name schema_name:name schema_owner:name default_character_set_catalog:name default_character_set_schema:name default_character_set_name:name sql_path:varchar'),
  'information_schema.table_constraints': cols('constraint_catalog:name constraint_schema:name constraint_name:name table_catalog:name table_schema:name table_name:name constraint_type:varchar is_deferrable:varchar initially_deferred:varchar enforced:varchar nulls_distinct:varchar'),
  'information_schema.tables': cols('table_catalog:name table_schema:name table_name:name table_type:varchar self_referencing_column_name:name reference_generation:varchar user_defined_type_catalog:name user_defined_type_schema:name user_defined_type_name:name is_insertable_into:varchar is_typed:varchar commit_action:varchar'),
  'information_schema.views': cols('table_catalog:name table_schema:name table_name:name view_definition:varchar check_option:varchar is_updatable:varchar is_insertable_into:varchar is_trigger_updatable:varchar is_trigger_deletable:varchar is_trigger_insertable_into:varchar'),
  'pg_catalog.pg_am': cols('oid:oid amname:name amhandler:regproc amtype:char'),
  'pg_catalog.pg_attrdef': cols('oid:oid adrelid:oid adnum:int2 adbin:nodeTree'),
  'pg_catalog.pg_attribute': cols('attrelid:oid attname:name atttypid:oid attstattarget:int4 attlen:int2 attnum:int2 attndims:int4 attcacheoff:int4 atttypmod:int4 attbyval:bool attalign:char attstorage:char attcompression:char attnotnull:bool atthasdef:bool atthasmissing:bool attidentity:char attgenerated:char attisdropped:bool attislocal:bool attinhcount:int4 attcollation:oid attacl:aclArray attoptions:textArray attfdwoptions:textArray attmissingval:anyarray'),
  'pg_catalog.pg_auth_members': cols('roleid:oid member:oid grantor:oid admin_option:bool'),
  'pg_catalog.pg_cast': cols('oid:oid castsource:oid casttarget:oid castfunc:oid castcontext:char castmethod:char'),
  'pg_catalog.pg_class': cols('oid:oid relname:name relnamespace:oid reltype:oid reloftype:oid relowner:oid relam:oid relfilenode:oid reltablespace:oid relpages:int4 reltuples:float4 relallvisible:int4 reltoastrelid:oid relhasindex:bool relisshared:bool relpersistence:char relkind:char relnatts:int2 relchecks:int2 relhasrules:bool relhastriggers:bool relhassubclass:bool relrowsecurity:bool relforcerowsecurity:bool relispopulated:bool relreplident:char relispartition:bool relrewrite:oid relfrozenxid:xid relminmxid:xid relacl:aclArray reloptions:textArray relpartbound:nodeTree'),
  'pg_catalog.pg_collation': cols('oid:oid collname:name collnamespace:oid collowner:oid collprovider:char collisdeterministic:bool collencoding:int4 collcollate:text collctype:text colliculocale:text collversion:text'),
  'pg_catalog.pg_constraint': cols('oid:oid conname:name connamespace:oid contype:char condeferrable:bool condeferred:bool convalidated:bool conrelid:oid contypid:oid conindid:oid conparentid:oid confrelid:oid confupdtype:char confdeltype:char confmatchtype:char conislocal:bool coninhcount:int4 connoinherit:bool conkey:int2Array confkey:int2Array conpfeqop:oidArray conppeqop:oidArray conffeqop:oidArray confdelsetcols:int2Array conexclop:oidArray conbin:nodeTree'),
  'pg_catalog.pg_database': cols('oid:oid datname:name datdba:oid encoding:int4 datlocprovider:char datistemplate:bool datallowconn:bool datconnlimit:int4 datfrozenxid:xid datminmxid:xid dattablespace:oid datcollate:text datctype:text daticulocale:text datcollversion:text datacl:aclArray'),
  'pg_catalog.pg_depend': cols('classid:oid objid:oid objsubid:int4 refclassid:oid refobjid:oid refobjsubid:int4 deptype:char'),
  'pg_catalog.pg_description': cols('objoid:oid classoid:oid objsubid:int4 description:text'),
  'pg_catalog.pg_enum': cols('oid:oid enumtypid:oid enumsortorder:float4 enumlabel:name'),
  'pg_catalog.pg_event_trigger': cols('oid:oid evtname:name evtevent:name evtowner:oid evtfoid:oid evtenabled:char evttags:textArray'),
  'pg_catalog.pg_extension': cols('oid:oid extname:name extowner:oid extnamespace:oid extrelocatable:bool extversion:text extconfig:oidArray extcondition:textArray'),
  'pg_catalog.pg_foreign_table': cols('ftrelid:oid ftserver:oid ftoptions:textArray'),
  'pg_catalog.pg_index': cols('indexrelid:oid indrelid:oid indnatts:int2 indnkeyatts:int2 indisunique:bool indnullsnotdistinct:bool indisprimary:bool indisexclusion:bool indimmediate:bool indisclustered:bool indisvalid:bool indcheckxmin:bool indisready:bool indislive:bool indisreplident:bool indkey:int2vector indcollation:oidvector indclass:oidvector indoption:int2vector indexprs:nodeTree indpred:nodeTree'),
  'pg_catalog.pg_inherits': cols('inhrelid:oid inhparent:oid inhseqno:int4 inhdetachpending:bool'),
  'pg_catalog.pg_language': cols('oid:oid lanname:name lanowner:oid lanispl:bool lanpltrusted:bool lanplcallfoid:oid laninline:oid lanvalidator:oid lanacl:aclArray'),
  'pg_catalog.pg_matviews': cols('schemaname:name matviewname:name matviewowner:name tablespace:name hasindexes:bool ispopulated:bool definition:text'),
  'pg_catalog.pg_namespace': cols('oid:oid nspname:name nspowner:oid nspacl:aclArray'),
  'pg_catalog.pg_opclass': cols('oid:oid opcmethod:oid opcname:name opcnamespace:oid opcowner:oid opcfamily:oid opcintype:oid opcdefault:bool opckeytype:oid'),
  'pg_catalog.pg_operator': cols('oid:oid oprname:name oprnamespace:oid oprowner:oid oprkind:char oprcanmerge:bool oprcanhash:bool oprleft:oid oprright:oid oprresult:oid oprcom:oid oprnegate:oid oprcode:regproc oprrest:regproc oprjoin:regproc'),
  'pg_catalog.pg_partitioned_table': cols('partrelid:oid partstrat:char partnatts:int2 partdefid:oid partattrs:int2vector partclass:oidvector partcollation:oidvector partexprs:nodeTree'),
  'pg_catalog.pg_policy': cols('oid:oid polname:name polrelid:oid polcmd:char polpermissive:bool polroles:oidArray polqual:nodeTree polwithcheck:nodeTree'),
  'pg_catalog.pg_proc': cols('oid:oid proname:name pronamespace:oid proowner:oid prolang:oid procost:float4 prorows:float4 provariadic:oid prosupport:regproc prokind:char prosecdef:bool proleakproof:bool proisstrict:bool proretset:bool provolatile:char proparallel:char pronargs:int2 pronargdefaults:int2 prorettype:oid proargtypes:oidvector proallargtypes:oidArray proargmodes:charArray proargnames:textArray proargdefaults:nodeTree protrftypes:oidArray prosrc:text probin:text prosqlbody:nodeTree proconfig:textArray proacl:aclArray'),
  'pg_catalog.pg_publication': cols('oid:oid pubname:name pubowner:oid puballtables:bool pubinsert:bool pubupdate:bool pubdelete:bool pubtruncate:bool pubviaroot:bool'),
  'pg_catalog.pg_publication_namespace': cols('oid:oid pnpubid:oid pnnspid:oid'),
  'pg_catalog.pg_publication_rel': cols('oid:oid prpubid:oid prrelid:oid prqual:nodeTree prattrs:int2vector'),
  'pg_catalog.pg_range': cols('rngtypid:oid rngsubtype:oid rngmultitypid:oid rngcollation:oid rngsubopc:oid rngcanonical:regproc rngsubdiff:regproc'),
  'pg_catalog.pg_rewrite': cols('oid:oid rulename:name ev_class:oid ev_type:char ev_enabled:char is_instead:bool ev_qual:nodeTree ev_action:nodeTree'),
  'pg_catalog.pg_roles': cols('rolname:name rolsuper:bool rolinherit:bool rolcreaterole:bool rolcreatedb:bool rolcanlogin:bool rolreplication:bool rolconnlimit:int4 rolpassword:text rolvaliduntil:timestamptz rolbypassrls:bool rolconfig:textArray oid:oid'),
  'pg_catalog.pg_sequence': cols('seqrelid:oid seqtypid:oid seqstart:int8 seqincrement:int8 seqmax:int8 seqmin:int8 seqcache:int8 seqcycle:bool'),
  'pg_catalog.pg_settings': cols('name:text setting:text unit:text category:text short_desc:text extra_desc:text context:text vartype:text source:text min_val:text max_val:text enumvals:textArray boot_val:text reset_val:text sourcefile:text sourceline:int4 pending_restart:bool'),
  'pg_catalog.pg_shdescription': cols('objoid:oid classoid:oid description:text'),
  'pg_catalog.pg_stat_activity': cols('datid:oid datname:name pid:int4 leader_pid:int4 usesysid:oid usename:name application_name:text client_addr:inet client_hostname:text client_port:int4 backend_start:timestamptz xact_start:timestamptz query_start:timestamptz state_change:timestamptz wait_event_type:text wait_event:text state:text backend_xid:xid backend_xmin:xid query_id:int8 query:text backend_type:text'),
  'pg_catalog.pg_statistic_ext': cols('oid:oid stxrelid:oid stxname:name stxnamespace:oid stxowner:oid stxstattarget:int4 stxkeys:int2vector stxkind:charArray stxexprs:nodeTree'),
  'pg_catalog.pg_tables': cols('schemaname:name tablename:name tableowner:name tablespace:name hasindexes:bool hasrules:bool hastriggers:bool rowsecurity:bool'),
  'pg_catalog.pg_tablespace': cols('oid:oid spcname:name spcowner:oid spcacl:aclArray spcoptions:textArray'),
  'pg_catalog.pg_trigger': cols('oid:oid tgrelid:oid tgparentid:oid tgname:name tgfoid:oid tgtype:int2 tgenabled:char tgisinternal:bool tgconstrrelid:oid tgconstrindid:oid tgconstraint:oid tgdeferrable:bool tginitdeferred:bool tgnargs:int2 tgattr:int2vector tgargs:bytea tgqual:nodeTree tgoldtable:name tgnewtable:name'),
  'pg_catalog.pg_type': cols('oid:oid typname:name typnamespace:oid typowner:oid typlen:int2 typbyval:bool typtype:char typcategory:char typispreferred:bool typisdefined:bool typdelim:char typrelid:oid typsubscript:regproc typelem:oid typarray:oid typinput:regproc typoutput:regproc typreceive:regproc typsend:regproc typmodin:regproc typmodout:regproc typanalyze:regproc typalign:char typstorage:char typnotnull:bool typbasetype:oid typtypmod:int4 typndims:int4 typcollation:oid typdefaultbin:nodeTree typdefault:text typacl:aclArray'),
  'pg_catalog.pg_user': cols('usename:name usesysid:oid usecreatedb:bool usesuper:bool userepl:bool usebypassrls:bool passwd:text valuntil:timestamptz useconfig:textArray'),
  'pg_catalog.pg_views': cols('schemaname:name viewname:name viewowner:name definition:text'),
  'pg_catalog.pg_parameter_acl': cols('oid:oid parname:text paracl:aclArray'),
  'pg_catalog.pg_aggregate': cols('aggfnoid:regproc aggkind:char aggnumdirectargs:int2 aggtransfn:regproc aggfinalfn:regproc aggcombinefn:regproc aggserialfn:regproc aggdeserialfn:regproc aggmtransfn:regproc aggminvtransfn:regproc aggmfinalfn:regproc aggfinalextra:bool aggmfinalextra:bool aggfinalmodify:char aggmfinalmodify:char aggsortop:oid aggtranstype:oid aggtransspace:int4 aggmtranstype:oid aggmtransspace:int4 agginitval:text aggminitval:text'),
  'pg_catalog.pg_amop': cols('oid:oid amopfamily:oid amoplefttype:oid amoprighttype:oid amopstrategy:int2 amoppurpose:char amopopr:oid amopmethod:oid amopsortfamily:oid'),
  'pg_catalog.pg_amproc': cols('oid:oid amprocfamily:oid amproclefttype:oid amprocrighttype:oid amprocnum:int2 amproc:regproc'),
  'pg_catalog.pg_available_extensions': cols('name:name default_version:text installed_version:text comment:text'),
  'pg_catalog.pg_conversion': cols('oid:oid conname:name connamespace:oid conowner:oid conforencoding:int4 contoencoding:int4 conproc:regproc condefault:bool'),
  'pg_catalog.pg_db_role_setting': cols('setdatabase:oid setrole:oid setconfig:textArray'),
  'pg_catalog.pg_default_acl': cols('oid:oid defaclrole:oid defaclnamespace:oid defaclobjtype:char defaclacl:aclArray'),
  'pg_catalog.pg_foreign_data_wrapper': cols('oid:oid fdwname:name fdwowner:oid fdwhandler:oid fdwvalidator:oid fdwacl:aclArray fdwoptions:textArray'),
  'pg_catalog.pg_foreign_server': cols('oid:oid srvname:name srvowner:oid srvfdw:oid srvtype:text srvversion:text srvacl:aclArray srvoptions:textArray'),
  'pg_catalog.pg_indexes': cols('schemaname:name tablename:name indexname:name tablespace:name indexdef:text'),
  'pg_catalog.pg_init_privs': cols('objoid:oid classoid:oid objsubid:int4 privtype:char initprivs:aclArray'),
  'pg_catalog.pg_largeobject_metadata': cols('oid:oid lomowner:oid lomacl:aclArray'),
  'pg_catalog.pg_opfamily': cols('oid:oid opfmethod:oid opfname:name opfnamespace:oid opfowner:oid'),
  'pg_catalog.pg_seclabel': cols('objoid:oid classoid:oid objsubid:int4 provider:text label:text'),
  'pg_catalog.pg_seclabels': cols('objoid:oid classoid:oid objsubid:int4 objtype:text objnamespace:oid objname:text provider:text label:text'),
  'pg_catalog.pg_sequences': cols('schemaname:name sequencename:name sequenceowner:name data_type:regtype start_value:int8 min_value:int8 max_value:int8 increment_by:int8 cycle:bool cache_size:int8 last_value:int8'),
  'pg_catalog.pg_shdepend': cols('dbid:oid classid:oid objid:oid objsubid:int4 refclassid:oid refobjid:oid deptype:char'),
  'pg_catalog.pg_shseclabel': cols('objoid:oid classoid:oid provider:text label:text'),
  'pg_catalog.pg_stat_user_tables': cols('relid:oid schemaname:name relname:name seq_scan:int8 seq_tup_read:int8 idx_scan:int8 idx_tup_fetch:int8 n_tup_ins:int8 n_tup_upd:int8 n_tup_del:int8 n_tup_hot_upd:int8 n_live_tup:int8 n_dead_tup:int8 n_mod_since_analyze:int8 n_ins_since_vacuum:int8 last_vacuum:timestamptz last_autovacuum:timestamptz last_analyze:timestamptz last_autoanalyze:timestamptz vacuum_count:int8 autovacuum_count:int8 analyze_count:int8 autoanalyze_count:int8'),
  'pg_catalog.pg_subscription': cols('oid:oid subdbid:oid subskiplsn:lsn subname:name subowner:oid subenabled:bool subbinary:bool substream:bool subtwophasestate:char subdisableonerr:bool subconninfo:text subslotname:name subsynccommit:text subpublications:textArray'),
  'pg_catalog.pg_timezone_names': cols('name:text abbrev:text utc_offset:interval is_dst:bool'),
  'pg_catalog.pg_transform': cols('oid:oid trftype:oid trflang:oid trffromsql:regproc trftosql:regproc'),
  'pg_catalog.pg_ts_config': cols('oid:oid cfgname:name cfgnamespace:oid cfgowner:oid cfgparser:oid'),
  'pg_catalog.pg_ts_config_map': cols('mapcfg:oid maptokentype:int4 mapseqno:int4 mapdict:oid'),
  'pg_catalog.pg_ts_dict': cols('oid:oid dictname:name dictnamespace:oid dictowner:oid dicttemplate:oid dictinitoption:text'),
  'pg_catalog.pg_ts_parser': cols('oid:oid prsname:name prsnamespace:oid prsstart:regproc prstoken:regproc prsend:regproc prsheadline:regproc prslextype:regproc'),
  'pg_catalog.pg_ts_template': cols('oid:oid tmplname:name tmplnamespace:oid tmplinit:regproc tmpllexize:regproc'),
  'pg_catalog.pg_user_mapping': cols('oid:oid umuser:oid umserver:oid umoptions:textArray'),
  'pg_catalog.pg_user_mappings': cols('umid:oid srvid:oid srvname:name umuser:oid usename:name umoptions:textArray'),
}

export const NS = { pg_catalog: 11, public: 2200, information_schema: 11999, sluice: 11998 } as const
const NAMESPACES: readonly [string, number][] = Object.entries(NS)
export const nspName = (oid: number): string | null => NAMESPACES.find(([, o]) => o === oid)?.[0] ?? null

/** `'pg_catalog'::regnamespace`: a schema's OID; 3F000 for a schema that does not exist. */
export function namespaceOid(name: string): number {
  const n = name.replace(/^"(.*)"$/, '$1')
  const found = NAMESPACES.find(([s]) => s === n)
  if (found === undefined) throw new SluiceError('execution', SqlState.invalidSchemaName, `schema "${n}" does not exist`)
  return found[1]
}

/** Sluice's role (the session's user, as PostgreSQL's bootstrap superuser) and `pg_database_owner`, owner of schema public. */
export const ROLE_OIDS = { bootstrapSuperuser: 10, databaseOwner: 6171 } as const
const BOOTSTRAP_SUPERUSER = ROLE_OIDS.bootstrapSuperuser
const DATABASE_OWNER = ROLE_OIDS.databaseOwner
const DATABASE_OID = 16383
const HEAP_AM = 2
const BTREE_AM = 403
const DEFAULT_COLLATION = 100

/** The catalog table a FROM item names, if any: `pg_class`, `pg_catalog.pg_class`, `information_schema.tables`. */
export function catalogTable(parts: readonly string[]): string | undefined {
  const name = parts[parts.length - 1]!
  const schema = parts.length > 1 ? parts[parts.length - 2] : undefined
  if (schema === 'information_schema') return CATALOG_TABLES[`information_schema.${name}`] ? `information_schema.${name}` : undefined
  if (schema !== undefined && schema !== 'pg_catalog') return undefined
  return CATALOG_TABLES[`pg_catalog.${name}`] ? `pg_catalog.${name}` : undefined
}

// ---------------------------------------------------------------------------------------------------------
// Relations and their OIDs

/** One relation as the catalog shows it. */
export interface PgRelation {
  readonly oid: number
  readonly name: string
  readonly namespace: number
  /** `r` stream, `m` materialized view, `v` system or catalog table. */
  readonly relkind: 'r' | 'm' | 'v'
  readonly columns: readonly Column[]
  readonly entry?: CatalogEntry
}

const CATALOG_NAMES = Object.keys(CATALOG_TABLES)
const SYSTEM_NAMES = Object.keys(SYSTEM_TABLES)

/**
 * The catalog tables' OIDs in PostgreSQL 15, which their rows carry as `tableoid`: pg_dump finds an object
 * by (catalog OID, OID) with the catalogs' OIDs built in (a schema is `(2615, oid)`).
 */
const CATALOG_OIDS: Readonly<Record<string, number>> = {
  'information_schema.columns': 13295, 'information_schema.key_column_usage': 13329,
  'information_schema.parameters': 13334, 'information_schema.routines': 13377, 'information_schema.schemata': 13382,
  'information_schema.table_constraints': 13411, 'information_schema.tables': 13425,
  'information_schema.views': 13483, 'pg_catalog.pg_aggregate': 2600, 'pg_catalog.pg_am': 2601,
  'pg_catalog.pg_amop': 2602, 'pg_catalog.pg_amproc': 2603, 'pg_catalog.pg_attrdef': 2604,
  'pg_catalog.pg_attribute': 1249, 'pg_catalog.pg_auth_members': 1261, 'pg_catalog.pg_available_extensions': 12081,
  'pg_catalog.pg_cast': 2605, 'pg_catalog.pg_class': 1259, 'pg_catalog.pg_collation': 3456,
  'pg_catalog.pg_constraint': 2606, 'pg_catalog.pg_conversion': 2607, 'pg_catalog.pg_database': 1262,
  'pg_catalog.pg_db_role_setting': 2964, 'pg_catalog.pg_default_acl': 826, 'pg_catalog.pg_depend': 2608,
  'pg_catalog.pg_description': 2609, 'pg_catalog.pg_enum': 3501, 'pg_catalog.pg_event_trigger': 3466,
  'pg_catalog.pg_extension': 3079, 'pg_catalog.pg_foreign_data_wrapper': 2328, 'pg_catalog.pg_foreign_server': 1417,
  'pg_catalog.pg_foreign_table': 3118, 'pg_catalog.pg_index': 2610, 'pg_catalog.pg_indexes': 12043,
  'pg_catalog.pg_inherits': 2611, 'pg_catalog.pg_init_privs': 3394, 'pg_catalog.pg_language': 2612,
  'pg_catalog.pg_largeobject_metadata': 2995, 'pg_catalog.pg_matviews': 12038, 'pg_catalog.pg_namespace': 2615,
  'pg_catalog.pg_opclass': 2616, 'pg_catalog.pg_operator': 2617, 'pg_catalog.pg_opfamily': 2753,
  'pg_catalog.pg_parameter_acl': 6243, 'pg_catalog.pg_partitioned_table': 3350, 'pg_catalog.pg_policy': 3256,
  'pg_catalog.pg_proc': 1255, 'pg_catalog.pg_publication': 6104, 'pg_catalog.pg_publication_namespace': 6237,
  'pg_catalog.pg_publication_rel': 6106, 'pg_catalog.pg_range': 3541, 'pg_catalog.pg_rewrite': 2618,
  'pg_catalog.pg_roles': 12000, 'pg_catalog.pg_seclabel': 3596, 'pg_catalog.pg_seclabels': 12099,
  'pg_catalog.pg_sequence': 2224, 'pg_catalog.pg_sequences': 12048, 'pg_catalog.pg_settings': 12104,
  'pg_catalog.pg_shdepend': 1214, 'pg_catalog.pg_shdescription': 2396, 'pg_catalog.pg_shseclabel': 3592,
  'pg_catalog.pg_stat_activity': 12222, 'pg_catalog.pg_stat_user_tables': 12161, 'pg_catalog.pg_statistic_ext': 3381,
  'pg_catalog.pg_subscription': 6100, 'pg_catalog.pg_tables': 12033, 'pg_catalog.pg_tablespace': 1213,
  'pg_catalog.pg_timezone_names': 12126, 'pg_catalog.pg_transform': 3576, 'pg_catalog.pg_trigger': 2620,
  'pg_catalog.pg_ts_config': 3602, 'pg_catalog.pg_ts_config_map': 3603, 'pg_catalog.pg_ts_dict': 3600,
  'pg_catalog.pg_ts_parser': 3601, 'pg_catalog.pg_ts_template': 3764, 'pg_catalog.pg_type': 1247,
  'pg_catalog.pg_user': 12014, 'pg_catalog.pg_user_mapping': 1418, 'pg_catalog.pg_user_mappings': 12327,
  'pg_catalog.pg_views': 12028,
}

/** A catalog table's OID (by `schema.name`), which its rows also carry as the system column `tableoid`. */
export const catalogTableOid = (table: string): number => CATALOG_OIDS[table] ?? 12000 + CATALOG_NAMES.indexOf(table) * 3

/** The row type of a relation: catalog tables' in a range of their own (their OIDs are PostgreSQL's). */
const rowTypeOid = (r: PgRelation): number => (r.namespace === NS.pg_catalog || r.namespace === NS.information_schema ? 14000 + CATALOG_NAMES.indexOf(`${nspName(r.namespace)}.${r.name}`) * 2 : r.oid + 1)

/** A stream's or view's OID: from its persisted catalog id, so it survives restarts. */
export const entryOid = (e: CatalogEntry): number => 16384 + e.id * 3

export function relations(catalog: Catalog): PgRelation[] {
  const out: PgRelation[] = []
  for (const s of catalog.streams()) out.push({ oid: entryOid(s), name: s.name, namespace: NS.public, relkind: 'r', columns: s.columns, entry: s })
  for (const v of catalog.userViews()) out.push({ oid: entryOid(v), name: v.name, namespace: NS.public, relkind: 'm', columns: v.columns, entry: v })
  SYSTEM_NAMES.forEach((n, i) => out.push({ oid: 15000 + i * 3, name: n, namespace: NS.sluice, relkind: 'v', columns: SYSTEM_TABLES[n]! }))
  CATALOG_NAMES.forEach((k) => {
    const [schema, name] = k.split('.') as [keyof typeof NS, string]
    out.push({ oid: catalogTableOid(k), name, namespace: NS[schema], relkind: 'v', columns: CATALOG_TABLES[k]! })
  })
  return out
}

// ---------------------------------------------------------------------------------------------------------
// Keys

/**
 * A view's key as the catalog shows it: a GROUP BY view holds one row per group, so when every group key
 * is a column of the view, those columns are its primary key (`<view>_pkey`, a unique btree index in
 * pg_index and a constraint `p` in pg_constraint). A NULL key value is one group like any other value
 * (PostgreSQL 15's NULLS NOT DISTINCT), so the key columns keep their nullability. Streams have no key:
 * `WITH (key = ...)` chooses the partition of each event, and a stream holds many events per key value.
 */
export interface PgKey {
  readonly relation: PgRelation
  readonly indexOid: number
  readonly constraintOid: number
  readonly name: string
  /** 1-based column numbers, in group key order. */
  readonly attnums: readonly number[]
}

/** Index and constraint OIDs live above the relation OIDs (16384 + 3 per catalog id). */
const KEY_OID_BASE = 1_000_000

export function viewKeyColumns(v: ViewDef): number[] | null {
  const body = v.plan.body
  if (body.kind !== 'aggregate' || body.aggregation.keys.length === 0) return null
  const attnums = body.aggregation.keys.map((_, j) => body.output.findIndex((o) => o.kind === 'column' && o.index === j) + 1)
  return attnums.every((a) => a > 0) ? attnums : null
}

export function keys(catalog: Catalog): PgKey[] {
  const out: PgKey[] = []
  for (const r of relations(catalog)) {
    if (r.entry?.kind !== 'view') continue
    const attnums = viewKeyColumns(r.entry)
    if (attnums === null) continue
    out.push({ relation: r, indexOid: KEY_OID_BASE + r.entry.id * 2, constraintOid: KEY_OID_BASE + r.entry.id * 2 + 1, name: `${r.name}_pkey`, attnums })
  }
  return out
}

/** A view's `_RETURN` rule (pg_rewrite), above the key OIDs. */
const ruleOid = (v: ViewDef): number => KEY_OID_BASE * 2 + v.id

/** What a view reads and joins; through its hidden views (not listed), what they read. */
function readNames(catalog: Catalog, v: ViewDef): Set<string> {
  const out = new Set<string>()
  for (const name of [v.plan.source.name, ...(v.plan.join ? [v.plan.join.view] : []), ...(v.plan.intervalJoin ? [v.plan.intervalJoin.right.name] : [])]) {
    const read = catalog.get(name)
    if (read?.kind === 'view' && read.owner !== undefined) for (const n of readNames(catalog, read)) out.add(n)
    else out.add(name)
  }
  return out
}

/**
 * pg_depend as pg_dump reads it to order what it creates: a stream's or view's relation depends on its
 * schema (`n`), a view's rule on the view (`i`) and on the stream and views it reads (`n`), and a key index
 * on its view's columns (`a`). pg_dump with data starts from the schema rows to find, with WITH RECURSIVE,
 * which materialized views each one's REFRESH must follow.
 */
function dependencies(catalog: Catalog): Partial_[] {
  const REWRITE = CATALOG_OIDS['pg_catalog.pg_rewrite']
  const CLASS = CATALOG_OIDS['pg_catalog.pg_class']
  const NAMESPACE = CATALOG_OIDS['pg_catalog.pg_namespace']
  const out: Partial_[] = []
  for (const e of [...catalog.streams(), ...catalog.userViews()]) {
    out.push({ classid: CLASS, objid: entryOid(e), objsubid: 0, refclassid: NAMESPACE, refobjid: NS.public, refobjsubid: 0, deptype: 'n' })
  }
  for (const v of catalog.userViews()) {
    out.push({ classid: REWRITE, objid: ruleOid(v), objsubid: 0, refclassid: CLASS, refobjid: entryOid(v), refobjsubid: 0, deptype: 'i' })
    for (const name of readNames(catalog, v)) {
      const read = catalog.get(name)
      if (read !== undefined) out.push({ classid: REWRITE, objid: ruleOid(v), objsubid: 0, refclassid: CLASS, refobjid: entryOid(read), refobjsubid: 0, deptype: 'n' })
    }
  }
  for (const k of keys(catalog)) {
    for (const a of k.attnums) out.push({ classid: CLASS, objid: k.indexOid, objsubid: 0, refclassid: CLASS, refobjid: k.relation.oid, refobjsubid: a, deptype: 'a' })
  }
  return out
}

/** `pg_get_indexdef(oid, column)`: the whole CREATE INDEX (column 0) or one key column's name. */
function indexDef(key: PgKey, column: number): string {
  const quote = (n: string): string => (/^[a-z_][a-z0-9_]*$/.test(n) ? n : `"${n.replace(/"/g, '""')}"`)
  const names = key.attnums.map((a) => quote(key.relation.columns[a - 1]!.name))
  if (column > 0) return names[column - 1] ?? ''
  return `CREATE UNIQUE INDEX ${quote(key.name)} ON public.${quote(key.relation.name)} USING btree (${names.join(', ')}) NULLS NOT DISTINCT`
}

const keyColumnList = (key: PgKey): string => key.attnums.map((a) => key.relation.columns[a - 1]!.name).join(', ')

// ---------------------------------------------------------------------------------------------------------
// Types

interface PgTypeInfo {
  readonly oid: number
  readonly name: string
  readonly len: number
  readonly category: string
  readonly elem: number
  readonly array: number
  readonly collation: number
}

const PSEUDO_TYPES: readonly (readonly [number, string, number])[] = [
  [2277, 'anyarray', -1],
  [2281, 'internal', 8],
]
const PSEUDO_OIDS = new Set(PSEUDO_TYPES.map(([oid]) => oid))
const CATEGORY: Partial<Record<TypeName, string>> = { bool: 'B', int2: 'N', int4: 'N', int8: 'N', float4: 'N', float8: 'N', numeric: 'N', text: 'S', timestamptz: 'D', timestamp: 'D', date: 'D', interval: 'T', time: 'D', json: 'U', jsonb: 'U', bytea: 'U', uuid: 'U', unknown: 'X' }
const PG_TYPE_NAMES: Record<TypeName, string> = { bool: 'bool', int2: 'int2', int4: 'int4', int8: 'int8', float4: 'float4', float8: 'float8', numeric: 'numeric', text: 'text', timestamptz: 'timestamptz', timestamp: 'timestamp', date: 'date', interval: 'interval', time: 'time', json: 'json', jsonb: 'jsonb', bytea: 'bytea', uuid: 'uuid', unknown: 'unknown' }

/** Built-in types: Sluice's own plus the catalog types clients look up (`name`, `oid`, `varchar`, ...). */
export const BUILTIN_TYPES: readonly PgTypeInfo[] = (() => {
  const out: PgTypeInfo[] = []
  for (const [n, info] of Object.entries(TypeOid) as [TypeName, (typeof TypeOid)[TypeName]][]) {
    const collation = n === 'text' ? DEFAULT_COLLATION : 0
    out.push({ oid: info.oid, name: PG_TYPE_NAMES[n], len: info.size, category: CATEGORY[n] ?? 'U', elem: 0, array: info.arrayOid, collation })
    if (info.arrayOid !== 0) out.push({ oid: info.arrayOid, name: `_${PG_TYPE_NAMES[n]}`, len: -1, category: 'A', elem: info.oid, array: 0, collation })
  }
  const extra: [number, string, number, string, number, number][] = [
    [19, 'name', 64, 'S', 1003, 950],
    [18, 'char', 1, 'Z', 1002, 0],
    [26, 'oid', 4, 'N', 1028, 0],
    [1043, 'varchar', -1, 'S', 1015, DEFAULT_COLLATION],
    [1042, 'bpchar', -1, 'S', 1014, DEFAULT_COLLATION],
    [24, 'regproc', 4, 'N', 1008, 0],
    [2205, 'regclass', 4, 'N', 2210, 0],
    [2206, 'regtype', 4, 'N', 2211, 0],
    [22, 'int2vector', -1, 'A', 1006, 0],
    [30, 'oidvector', -1, 'A', 1013, 0],
    [28, 'xid', 4, 'U', 1011, 0],
    [194, 'pg_node_tree', -1, 'Z', 0, DEFAULT_COLLATION],
    // Types of catalog columns (pg_stat_activity.client_addr, relacl, subskiplsn, ...): a client that
    // resolves every column's type, such as a query generator, must find them here.
    [869, 'inet', -1, 'I', 1041, 0],
    [1033, 'aclitem', 12, 'U', 1034, 0],
    [3220, 'pg_lsn', 8, 'U', 3221, 0],
    [4089, 'regnamespace', 4, 'N', 4090, 0],
  ]
  for (const [oid, name, len, category, array, collation] of extra) {
    out.push({ oid, name, len, category, elem: 0, array, collation })
    out.push({ oid: array, name: `_${name}`, len: -1, category: 'A', elem: oid, array: 0, collation })
  }
  // Pseudo-types (typtype 'p', no array type): pg_attribute.attmissingval's `anyarray`, and `internal`,
  // which clients that generate calls look up to know the functions SQL cannot call.
  for (const [oid, name, len] of PSEUDO_TYPES) out.push({ oid, name, len, category: 'P', elem: 0, array: 0, collation: 0 })
  return out.filter((t) => t.oid !== 0)
})()

const TYPE_BY_OID = new Map(BUILTIN_TYPES.map((t) => [t.oid, t]))
const DISPLAY_BY_OID = new Map<number, string>([
  [19, 'name'],
  [18, '"char"'],
  [26, 'oid'],
  [1043, 'character varying'],
  [1042, 'character'],
  [24, 'regproc'],
  [2205, 'regclass'],
  [2206, 'regtype'],
  [22, 'int2vector'],
  [30, 'oidvector'],
  [28, 'xid'],
  [194, 'pg_node_tree'],
  [2950, 'uuid'],
  [869, 'inet'],
  [1033, 'aclitem'],
  [3220, 'pg_lsn'],
  [4089, 'regnamespace'],
  ...PSEUDO_TYPES.map(([oid, name]) => [oid, name] as [number, string]),
])
for (const [n, info] of Object.entries(TypeOid) as [TypeName, (typeof TypeOid)[TypeName]][]) {
  DISPLAY_BY_OID.set(info.oid, typeDisplayName(Types[n]))
}

/** `format_type(oid, typmod)`: the SQL spelling of a type, as psql's `\d` prints it. */
export function formatType(oid: number | null, typmod: number | null = null): string | null {
  if (oid === null) return null
  const t = TYPE_BY_OID.get(oid)
  if (t !== undefined && t.elem !== 0) {
    const inner = formatType(t.elem, typmod)
    return inner === null ? null : `${inner}[]`
  }
  const base = DISPLAY_BY_OID.get(oid)
  if (base === undefined) return '???'
  if (typmod !== null && typmod >= 4 && (oid === 1043 || oid === 1042)) return `${base}(${typmod - 4})`
  // numeric's typmod: ((precision << 16) | scale & 0x7ff) + 4, the scale 11 bits signed (numerictypmodout).
  if (typmod !== null && typmod >= 4 && oid === 1700) return `${base}(${(typmod - 4) >> 16},${((((typmod - 4) & 0x7ff) ^ 1024) - 1024)})`
  return base
}

/** The pg_type OID of a type name as `'int4'::regtype` writes it. */
export function typeOidByName(name: string): number | null {
  const n = name.replace(/^pg_catalog\./, '').replace(/^"|"$/g, '')
  for (const t of BUILTIN_TYPES) if (t.name === n) return t.oid
  for (const [oid, d] of DISPLAY_BY_OID) if (d === n) return oid
  return null
}

// ---------------------------------------------------------------------------------------------------------
// Rows

/** What a row depends on besides the catalog. */
export interface CatalogEnv {
  readonly user: string
  readonly database: string
  /** The session's settings (pg_settings); the server's defaults when absent. */
  readonly settings?: readonly SettingEntry[]
}

type Partial_ = Record<string, Value | undefined>

function rowsOf(table: string, objs: readonly Partial_[]): Row[] {
  const columns = CATALOG_TABLES[table]!
  const tableoid = catalogTableOid(table)
  return objs.map((o) => [...columns.map((c) => o[c.name] ?? null), tableoid])
}

const storage = (t: SqlType): string => (t.element || TypeOid[t.name].size < 0 ? 'x' : 'p')

/** The rows of one catalog table, generated from the catalog now; each ends with its `tableoid`. */
export function catalogRows(table: string, catalog: Catalog, env: CatalogEnv): Row[] {
  return rowsOf(table, objects(table, catalog, env))
}

/**
 * A pg_dump session (application_name `pg_dump`) does not see the `sluice` schema: like PostgreSQL's own
 * `pg_*` schemas, it holds built-in views, which a dump must not recreate in another database.
 */
const isDump = (env: CatalogEnv): boolean => env.settings?.some((s) => s.name === 'application_name' && s.value === 'pg_dump') ?? false

function objects(table: string, catalog: Catalog, env: CatalogEnv): Partial_[] {
  const hidden = isDump(env) ? NS.sluice : -1
  const rels = (): PgRelation[] => relations(catalog).filter((r) => r.namespace !== hidden)
  const nsp = (oid: number): string => nspName(oid) ?? 'public'
  switch (table) {
    case 'pg_catalog.pg_namespace':
      // As in PostgreSQL 15, `public` belongs to pg_database_owner, who may create in it; everyone may use it.
      return NAMESPACES.filter(([, oid]) => oid !== hidden).map(([nspname, oid]) =>
        oid === NS.public ? { oid, nspname, nspowner: DATABASE_OWNER, nspacl: ['pg_database_owner=UC/pg_database_owner', '=U/pg_database_owner'] } : { oid, nspname, nspowner: BOOTSTRAP_SUPERUSER },
      )
    case 'pg_catalog.pg_description':
      return [{ objoid: NS.public, classoid: CATALOG_OIDS['pg_catalog.pg_namespace'], objsubid: 0, description: 'standard public schema' }]
    case 'pg_catalog.pg_rewrite':
      // Each materialized view's query is its `_RETURN` rule, on which pg_dump hangs the view's dependencies.
      return catalog.userViews().map((v) => ({ oid: ruleOid(v), rulename: '_RETURN', ev_class: entryOid(v), ev_type: '1', ev_enabled: 'O', is_instead: true, ev_qual: '<>', ev_action: null }))
    case 'pg_catalog.pg_depend':
      return dependencies(catalog)
    case 'pg_catalog.pg_database':
      return [{ oid: DATABASE_OID, datname: env.database, datdba: BOOTSTRAP_SUPERUSER, encoding: 6, datlocprovider: 'c', datistemplate: false, datallowconn: true, datconnlimit: -1, datcollate: 'C', datctype: 'C', dattablespace: 1663 }]
    case 'pg_catalog.pg_roles':
      return [
        { oid: BOOTSTRAP_SUPERUSER, rolname: env.user, rolsuper: true, rolinherit: true, rolcreaterole: true, rolcreatedb: true, rolcanlogin: true, rolreplication: false, rolconnlimit: -1, rolpassword: '********', rolbypassrls: true },
        { oid: DATABASE_OWNER, rolname: 'pg_database_owner', rolsuper: false, rolinherit: true, rolcreaterole: false, rolcreatedb: false, rolcanlogin: false, rolreplication: false, rolconnlimit: -1, rolpassword: '********', rolbypassrls: false },
      ]
    case 'pg_catalog.pg_user':
      return [{ usename: env.user, usesysid: BOOTSTRAP_SUPERUSER, usecreatedb: true, usesuper: true, userepl: false, usebypassrls: true, passwd: '********' }]
    case 'pg_catalog.pg_am':
      return [
        { oid: HEAP_AM, amname: 'heap', amhandler: 'heap_tableam_handler', amtype: 't' },
        { oid: BTREE_AM, amname: 'btree', amhandler: 'bthandler', amtype: 'i' },
      ]
    case 'pg_catalog.pg_collation':
      return [
        { oid: DEFAULT_COLLATION, collname: 'default', collnamespace: NS.pg_catalog, collowner: BOOTSTRAP_SUPERUSER, collprovider: 'd', collisdeterministic: true, collencoding: -1 },
        { oid: 950, collname: 'C', collnamespace: NS.pg_catalog, collowner: BOOTSTRAP_SUPERUSER, collprovider: 'c', collisdeterministic: true, collencoding: -1, collcollate: 'C', collctype: 'C' },
      ]
    case 'pg_catalog.pg_tablespace':
      return [
        { oid: 1663, spcname: 'pg_default', spcowner: BOOTSTRAP_SUPERUSER },
        { oid: 1664, spcname: 'pg_global', spcowner: BOOTSTRAP_SUPERUSER },
      ]
    case 'pg_catalog.pg_type': {
      const out: Partial_[] = BUILTIN_TYPES.map((t) => ({
        oid: t.oid, typname: t.name, typnamespace: NS.pg_catalog, typowner: BOOTSTRAP_SUPERUSER, typlen: t.len, typbyval: t.len > 0 && t.len <= 8,
        typtype: PSEUDO_OIDS.has(t.oid) ? 'p' : 'b', typcategory: t.category, typispreferred: false, typisdefined: true, typdelim: ',', typrelid: 0, typsubscript: '-', typelem: t.elem, typarray: t.array,
        typinput: t.elem !== 0 ? 'array_in' : `${t.name}in`, typoutput: t.elem !== 0 ? 'array_out' : `${t.name}out`, typreceive: '-', typsend: '-', typmodin: '-', typmodout: '-', typanalyze: '-', typalign: t.len === 8 ? 'd' : 'i', typstorage: t.len < 0 ? 'x' : 'p',
        typnotnull: false, typbasetype: 0, typtypmod: -1, typndims: 0, typcollation: t.collation,
      }))
      for (const r of rels()) {
        out.push({ oid: rowTypeOid(r), typname: r.name, typnamespace: r.namespace, typowner: BOOTSTRAP_SUPERUSER, typlen: -1, typbyval: false, typtype: 'c', typcategory: 'C', typispreferred: false, typisdefined: true, typdelim: ',', typrelid: r.oid, typsubscript: '-', typelem: 0, typarray: rowTypeOid(r) + 1, typinput: 'record_in', typoutput: 'record_out', typreceive: '-', typsend: '-', typmodin: '-', typmodout: '-', typanalyze: '-', typalign: 'd', typstorage: 'x', typnotnull: false, typbasetype: 0, typtypmod: -1, typndims: 0, typcollation: 0 })
      }
      return out
    }
    case 'pg_catalog.pg_class': {
      const keyed = keys(catalog)
      const indexes = keyed.map((k) => ({
        oid: k.indexOid, relname: k.name, relnamespace: NS.public, reltype: 0, reloftype: 0, relowner: BOOTSTRAP_SUPERUSER, relam: BTREE_AM, relfilenode: k.indexOid,
        reltablespace: 0, relpages: 1, reltuples: -1, relallvisible: 0, reltoastrelid: 0, relhasindex: false, relisshared: false, relpersistence: 'p', relkind: 'i',
        relnatts: k.attnums.length, relchecks: 0, relhasrules: false, relhastriggers: false, relhassubclass: false, relrowsecurity: false, relforcerowsecurity: false,
        relispopulated: true, relreplident: 'n', relispartition: false, relrewrite: 0, relfrozenxid: 0, relminmxid: 0,
      }))
      return [...rels().map((r) => ({
        oid: r.oid, relname: r.name, relnamespace: r.namespace, reltype: rowTypeOid(r), reloftype: 0, relowner: BOOTSTRAP_SUPERUSER, relam: r.relkind === 'v' ? 0 : HEAP_AM, relfilenode: r.relkind === 'v' ? 0 : r.oid,
        reltablespace: 0, relpages: 0, reltuples: -1, relallvisible: 0, reltoastrelid: 0, relisshared: false, relpersistence: 'p', relkind: r.relkind,
        relnatts: r.columns.length, relchecks: 0, relhasrules: r.relkind === 'v', relhastriggers: false, relhassubclass: false, relrowsecurity: false, relforcerowsecurity: false,
        relispopulated: true, relreplident: r.relkind === 'v' ? 'n' : 'd', relispartition: false, relrewrite: 0, relfrozenxid: 0, relminmxid: 0,
        relhasindex: keyed.some((k) => k.relation.oid === r.oid),
      })), ...indexes]
    }
    case 'pg_catalog.pg_index':
      return keys(catalog).map((k) => ({
        indexrelid: k.indexOid, indrelid: k.relation.oid, indnatts: k.attnums.length, indnkeyatts: k.attnums.length, indisunique: true, indnullsnotdistinct: true, indisprimary: !isDump(env),
        indisexclusion: false, indimmediate: true, indisclustered: false, indisvalid: true, indcheckxmin: false, indisready: true, indislive: true, indisreplident: false,
        indkey: [...k.attnums], indcollation: k.attnums.map((a) => (k.relation.columns[a - 1]!.type.name === 'text' ? DEFAULT_COLLATION : 0)), indclass: k.attnums.map(() => 0), indoption: k.attnums.map(() => 0),
      }))
    case 'pg_catalog.pg_constraint':
      // A dump writes a view's key as the unique index PostgreSQL allows on a materialized view, not as a
      // PRIMARY KEY constraint, which it allows only on tables.
      if (isDump(env)) return []
      return keys(catalog).map((k) => ({
        oid: k.constraintOid, conname: k.name, connamespace: NS.public, contype: 'p', condeferrable: false, condeferred: false, convalidated: true, conrelid: k.relation.oid, contypid: 0,
        conindid: k.indexOid, conparentid: 0, confrelid: 0, confupdtype: ' ', confdeltype: ' ', confmatchtype: ' ', conislocal: true, coninhcount: 0, connoinherit: true, conkey: [...k.attnums],
      }))
    case 'information_schema.table_constraints':
      return keys(catalog).map((k) => ({
        constraint_catalog: env.database, constraint_schema: 'public', constraint_name: k.name, table_catalog: env.database, table_schema: 'public', table_name: k.relation.name,
        constraint_type: 'PRIMARY KEY', is_deferrable: 'NO', initially_deferred: 'NO', enforced: 'YES', nulls_distinct: 'NO',
      }))
    case 'information_schema.key_column_usage':
      return keys(catalog).flatMap((k) =>
        k.attnums.map((a, i) => ({
          constraint_catalog: env.database, constraint_schema: 'public', constraint_name: k.name, table_catalog: env.database, table_schema: 'public', table_name: k.relation.name,
          column_name: k.relation.columns[a - 1]!.name, ordinal_position: i + 1,
        })),
      )
    case 'pg_catalog.pg_attribute':
      return [...rels().flatMap((r) =>
        r.columns.map((c, i) => ({
          attrelid: r.oid, attname: c.name, atttypid: typeOid(c.type), attstattarget: -1, attlen: c.type.pgSize ?? (c.type.element ? -1 : TypeOid[c.type.name].size), attnum: i + 1,
          attndims: c.type.element ? 1 : 0, attcacheoff: -1, atttypmod: numericTypmod(c.type), attbyval: !c.type.element && TypeOid[c.type.name].size > 0, attalign: 'i', attstorage: storage(c.type), attcompression: '',
          attnotnull: !c.nullable, atthasdef: false, atthasmissing: false, attidentity: '', attgenerated: '', attisdropped: false, attislocal: true, attinhcount: 0,
          attcollation: !c.type.element && c.type.name === 'text' && c.type.pgOid === undefined ? DEFAULT_COLLATION : c.type.pgOid === 19 ? 950 : 0,
        })),
      ), ...keys(catalog).flatMap((k) =>
        // An index has one attribute per key column, as in PostgreSQL.
        k.attnums.map((a, i) => {
          const c = k.relation.columns[a - 1]!
          return { attrelid: k.indexOid, attname: c.name, atttypid: typeOid(c.type), attstattarget: -1, attlen: c.type.element ? -1 : TypeOid[c.type.name].size, attnum: i + 1, attndims: 0, attcacheoff: -1,
            atttypmod: -1, attbyval: !c.type.element && TypeOid[c.type.name].size > 0, attalign: 'i', attstorage: storage(c.type), attcompression: '', attnotnull: false, atthasdef: false, atthasmissing: false,
            attidentity: '', attgenerated: '', attisdropped: false, attislocal: true, attinhcount: 0, attcollation: !c.type.element && c.type.name === 'text' ? DEFAULT_COLLATION : 0 }
        }),
      )]
    case 'pg_catalog.pg_matviews':
      return catalog.userViews().map((v) => ({ schemaname: 'public', matviewname: v.name, matviewowner: env.user, hasindexes: viewKeyColumns(v) !== null, ispopulated: true, definition: v.sql }))
    case 'pg_catalog.pg_tables':
      return catalog.streams().map((s) => ({ schemaname: 'public', tablename: s.name, tableowner: env.user, hasindexes: false, hasrules: false, hastriggers: false, rowsecurity: false }))
    case 'pg_catalog.pg_views':
      return rels()
        .filter((r) => r.relkind === 'v')
        .map((r) => ({ schemaname: nsp(r.namespace), viewname: r.name, viewowner: env.user, definition: null }))
    case 'pg_catalog.pg_settings':
      if (env.settings !== undefined) {
        const session = env.settings.map(({ name, value, boot, source }) => ({
          name: SETTING_NAMES.get(name) ?? name, setting: value, context: 'user', vartype: 'string', source, boot_val: boot, reset_val: source === 'session' ? (boot ?? value) : value, pending_restart: false,
        }))
        // The server's fixed parameters (max_index_keys, which pgjdbc reads, ...) that no session sets.
        const fixed = SETTINGS.filter(([name]) => !env.settings!.some((x) => x.name === name.toLowerCase()))
        return [...session, ...fixed.map(([name, setting]) => ({ name, setting, context: 'internal', vartype: 'string', source: 'default', boot_val: setting, reset_val: setting, pending_restart: false }))]
      }
      return SETTINGS.map(([name, setting]) => ({ name, setting, context: 'user', vartype: 'string', source: 'default', boot_val: setting, reset_val: setting, pending_restart: false }))
    case 'information_schema.schemata':
      return NAMESPACES.map(([name]) => ({ catalog_name: env.database, schema_name: name, schema_owner: env.user }))
    case 'information_schema.tables':
      return rels().map((r) => ({
        table_catalog: env.database, table_schema: nsp(r.namespace), table_name: r.name, table_type: r.relkind === 'r' ? 'BASE TABLE' : 'VIEW',
        is_insertable_into: r.relkind === 'r' ? 'YES' : 'NO', is_typed: 'NO',
      }))
    case 'information_schema.views':
      return rels()
        .filter((r) => r.relkind !== 'r')
        .map((r) => ({ table_catalog: env.database, table_schema: nsp(r.namespace), table_name: r.name, view_definition: r.entry?.sql ?? null, check_option: 'NONE', is_updatable: 'NO', is_insertable_into: 'NO', is_trigger_updatable: 'NO', is_trigger_deletable: 'NO', is_trigger_insertable_into: 'NO' }))
    case 'information_schema.columns':
      return rels().flatMap((r) =>
        r.columns.map((c, i) => ({
          table_catalog: env.database, table_schema: nsp(r.namespace), table_name: r.name, column_name: c.name, ordinal_position: i + 1, is_nullable: c.nullable ? 'YES' : 'NO',
          data_type: c.type.element ? 'ARRAY' : (formatType(typeOid(c.type)) ?? 'USER-DEFINED'), udt_catalog: env.database, udt_schema: 'pg_catalog', udt_name: TYPE_BY_OID.get(typeOid(c.type))?.name ?? null,
          dtd_identifier: String(i + 1), is_self_referencing: 'NO', is_identity: 'NO', is_generated: 'NEVER', is_updatable: r.relkind === 'r' ? 'YES' : 'NO',
          ...numericFacts(c.type),
        })),
      )
    default:
      // pg_index, pg_constraint, pg_description, pg_attrdef, pg_inherits, pg_policy, pg_rewrite, pg_proc, ...:
      // Sluice has no indexes, constraints, comments, defaults, inheritance or rules; the tables exist empty.
      return []
  }
}

/** pg_attribute.atttypmod: numeric(p, s) as ((p << 16) | s & 0x7ff) + 4, -1 for every other type. */
const numericTypmod = (t: SqlType): number => {
  const el = t.element ?? t
  return el.name === 'numeric' && el.precision !== undefined ? ((el.precision << 16) | ((el.scale ?? 0) & 0x7ff)) + 4 : -1
}

function numericFacts(t: SqlType): Partial_ {
  if (t.element) return {}
  switch (t.name) {
    case 'int2':
      return { numeric_precision: 16, numeric_precision_radix: 2, numeric_scale: 0 }
    case 'int4':
      return { numeric_precision: 32, numeric_precision_radix: 2, numeric_scale: 0 }
    case 'int8':
      return { numeric_precision: 64, numeric_precision_radix: 2, numeric_scale: 0 }
    case 'float4':
      return { numeric_precision: 24, numeric_precision_radix: 2 }
    case 'float8':
      return { numeric_precision: 53, numeric_precision_radix: 2 }
    case 'numeric':
      return t.precision === undefined ? { numeric_precision_radix: 10 } : { numeric_precision: t.precision, numeric_precision_radix: 10, numeric_scale: t.scale ?? 0 }
    case 'timestamptz':
    case 'timestamp':
      return { datetime_precision: 6 }
    case 'date':
      return { datetime_precision: 0 }
    default:
      return {}
  }
}

const SETTINGS: readonly [string, string][] = [
  ['server_version', '15.0'],
  ['server_version_num', '150000'],
  ['server_encoding', 'UTF8'],
  ['client_encoding', 'UTF8'],
  ['standard_conforming_strings', 'on'],
  ['max_identifier_length', '63'],
  ['max_index_keys', '32'],
  ['search_path', '"$user", public'],
  ['TimeZone', 'UTC'],
  ['DateStyle', 'ISO, MDY'],
  ['integer_datetimes', 'on'],
]

/** PostgreSQL's spelling of the settings whose names are not all lower case. */
const SETTING_NAMES = new Map(['DateStyle', 'TimeZone', 'IntervalStyle'].map((n) => [n.toLowerCase(), n]))

/** What `pg_get_viewdef`, `::regclass` and `::regnamespace` need at run time, from the current catalog. */
export interface CatalogLookup {
  relname(oid: number): string | null
  relOid(name: string): number | null
  viewdef(oid: number): string | null
  nspname(oid: number): string | null
  /** `pg_get_indexdef(oid [, column, pretty])` of a view's key index; null for any other OID. */
  indexdef(oid: number, column: number): string | null
  /** `pg_get_constraintdef(oid)` of a view's key constraint. */
  constraintdef(oid: number): string | null
}

/** The schemas a search_path setting names that exist, in order (`"$user"` names none: no user has one). */
export function searchPathSchemas(searchPath: string | undefined): string[] {
  if (searchPath === undefined) return ['public']
  return searchPath
    .split(',')
    .map((p) => p.trim().replace(/^"(.*)"$/, '$1'))
    .filter((p) => p !== '' && p !== '$user' && NAMESPACES.some(([n]) => n === p))
}

/** `searchPath`: the session's search_path, which decides whether view definitions qualify names. */
export function catalogLookup(catalog: Catalog, searchPath?: string): CatalogLookup {
  let cache: PgRelation[] | null = null
  const all = (): PgRelation[] => (cache ??= relations(catalog))
  let keyCache: PgKey[] | null = null
  const allKeys = (): PgKey[] => (keyCache ??= keys(catalog))
  return {
    indexdef: (oid, column) => {
      const k = allKeys().find((x) => x.indexOid === oid)
      return k === undefined ? null : indexDef(k, column)
    },
    constraintdef: (oid) => {
      const k = allKeys().find((x) => x.constraintOid === oid)
      return k === undefined ? null : `PRIMARY KEY (${keyColumnList(k)})`
    },
    relname: (oid) => all().find((r) => r.oid === oid)?.name ?? allKeys().find((k) => k.indexOid === oid)?.name ?? String(oid),
    relOid: (name) => {
      const parts = name.split('.').map((p) => p.replace(/^"|"$/g, ''))
      const n = parts[parts.length - 1]!
      const schema = parts.length > 1 ? parts[0] : undefined
      return all().find((r) => r.name === n && (schema === undefined || nspName(r.namespace) === schema))?.oid ?? null
    },
    viewdef: (oid) => {
      const e = all().find((r) => r.oid === oid)?.entry
      if (e?.kind !== 'view') return null
      const visible = searchPathSchemas(searchPath).includes('public')
      return viewDefinition(e.sql, visible ? new Set() : new Set([...catalog.streams(), ...catalog.userViews()].map((x) => x.name)))
    },
    nspname: (oid) => nspName(oid) ?? String(oid),
  }
}

