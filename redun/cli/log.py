"""`redun log`: executions, jobs, call nodes, tasks, values and files from the index.

Start-up time matters (a cold `redun log <prefix>` should take tens of ms), so
this module imports nothing heavy: no engine, no boto3. The work is
done by log_show.show_log, which the entry point also calls without click.
"""

import click

from .log_show import show_log

@click.command("log")
@click.argument("ids", nargs=-1)
@click.option("--exec", "want_exec", is_flag=True, help="List executions.")
@click.option("--job", "want_job", is_flag=True, help="List jobs.")
@click.option("--call-node", "want_call_node", is_flag=True, help="List call nodes.")
@click.option("--task", "want_task", is_flag=True, help="List tasks.")
@click.option("--value", "want_value", is_flag=True, help="List values.")
@click.option("--file", "want_file", is_flag=True, help="List files (values with a path).")
@click.option("--all", "want_all", is_flag=True, help="List every kind of record.")
@click.option("--count", is_flag=True, help="Only count the records that would be listed.")
@click.option("--detail", is_flag=True, help="Show each listed record in full.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format (json: one upstream-style record per line).")
@click.option("--dot", is_flag=True, help="Print an execution's call graph in Graphviz dot.")
@click.option("--all-matches", is_flag=True,
              help="When a prefix matches several records, show all of them instead of listing candidates.")
@click.option("--exec-status", help="Filter executions: comma list of RUNNING,FAILED,DONE.")
@click.option("--job-status", help="Filter jobs: comma list of RUNNING,FAILED,CACHED,DONE.")
@click.option("--task-name", multiple=True, help="Filter by task name (ns.name, or a bare name in any namespace).")
@click.option("--task-hash", help="Filter by task hash (full 40 hex).")
@click.option("--value-type", help="Filter values by type (e.g. builtins.int, redun.File).")
@click.option("--file-path", help="Filter files by recorded path.")
@click.option("--exec-id", help="Filter jobs by execution (comma list of ids, prefixes, '-' or '~N').")
@click.option("-t", "--tag", "tags", multiple=True, help="Filter by tag (format: key=value, or key for any value).")
@click.option("--exec-tag", "exec_tags", multiple=True,
              help="Filter by execution tag (format: key=value, or key): records of those executions.")
@click.option("--result", "results", multiple=True, help="Filter jobs by their result value hashes (full hash).")
@click.option("--arg", "arg_hashes", multiple=True, help="Filter jobs by their argument value hashes (full hash).")
@click.option("--no-pager", is_flag=True, help="Accepted for compatibility; output is never paged.")
@click.pass_obj
def log_command(obj, ids, want_exec, want_job, want_call_node, want_task, want_value, want_file, want_all, count,
                detail, fmt, dot, all_matches, exec_status, job_status, task_name, task_hash, value_type, file_path,
                exec_id, tags, exec_tags, results, arg_hashes, no_pager):
    """Show information on historical runs.

    With no ID: recent executions, newest first. ID may be an execution, job,
    call node, task or value id/hash prefix (lowercase hex), an exact task name,
    '-' (newest execution), '~N' (N-th newest) or a file path (produced/consumed by).
    """
    show_log(obj, ids, want_exec, want_job, want_call_node, want_task, want_value, want_file, want_all, count,
             detail, fmt, dot, all_matches, exec_status, job_status, task_name, task_hash, value_type, file_path,
             exec_id, tags=tags, exec_tags=exec_tags, results=results, args=arg_hashes)
