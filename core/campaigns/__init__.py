"""Rating campaigns: ``spec`` (what a campaign asks for), ``sampling`` (which pairs), ``admin`` (create,
raters, look-ups), ``assignment`` (the lease protocol the rater pages call), ``status`` (progress), ``consensus``
(labels in force from several raters) and ``selection`` (a campaign from hand-picked pairs).

``from core import campaigns`` gives the API the app and the CLI use, in one namespace.
"""

from core.campaigns.admin import (CampaignInfo, add_raters, comparison_sides, create_campaign, get_campaign,
                                  list_campaigns, rater_campaigns)
from core.campaigns.assignment import TaskView, next_task, skip, submit_comparison, submit_grade, undo_last
from core.campaigns.spec import CANDIDATES, KINDS, MEASURES, STRATEGIES, CampaignSpec
from core.campaigns.status import Progress, RaterProgress, progress
from core.errors import (AssignmentError, CampaignError, LevelOutOfRangeError, NoPredictionsError, NothingToUndoError,
                         RaterNotInCampaignError, SamplingError, UnknownCampaignError)

__all__ = ["CANDIDATES", "KINDS", "MEASURES", "STRATEGIES", "AssignmentError", "CampaignError", "CampaignInfo",
           "CampaignSpec", "LevelOutOfRangeError", "NoPredictionsError", "NothingToUndoError", "Progress",
           "RaterNotInCampaignError", "RaterProgress", "SamplingError", "TaskView", "UnknownCampaignError",
           "add_raters", "comparison_sides", "create_campaign", "get_campaign", "list_campaigns", "next_task",
           "progress", "rater_campaigns", "skip", "submit_comparison", "submit_grade", "undo_last"]
